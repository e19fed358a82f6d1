"""The clock process: scheduled prompts, reminders and weekly digests, each recorded once."""
