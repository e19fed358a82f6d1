import sys, tempfile
from pathlib import Path
from tests.practice import blind
from storage import db
from storage.encryption import generate_key, keyring
name=sys.argv[1]
keyring.configure([generate_key()])
with tempfile.TemporaryDirectory() as d:
    v=[x for x in blind.load_set(sys.argv[2] if len(sys.argv)>2 else 'blind') if x.name==name][0]
    e=db.make_engine(f"sqlite:///{d}/x.db"); db.upgrade(e)
    sc=blind.drive(v, db.session_factory(e), Path(d))
    print(sc.run.transcript)
    print(sc.raised, sc.missed, sc.run.minutes, sc.run.words_read, sc.run.words_typed, len(sc.run.turns))
