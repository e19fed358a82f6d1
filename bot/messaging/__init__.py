"""Messaging: what people send Reflect (the inbox) and what Reflect says to them (the outbox).

Recording a message (``outbox.record``) happens in the caller's transaction; a front end
(bot/slack/frontend.py) renders and sends it later, through the one delivery loop
(``delivery.Delivery``). Nothing here knows which platform the messages go out on.
"""
