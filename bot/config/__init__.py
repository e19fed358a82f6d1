"""Typed configuration: what bot/settings.py builds from the environment, and an agency may
override in the organisation file. Read by every layer, so it imports nothing of Reflect's."""
