"""The terminal front end, beside bot/slack/: a reflection typed line by line (conversation),
`reflect demo` (demo), and a case's summaries as `reflect history` prints them (history)."""
