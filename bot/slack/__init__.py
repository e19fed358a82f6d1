"""The Slack front end: a Bolt app whose listeners call the reflection service."""
