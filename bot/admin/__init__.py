"""What administrators load: the organisation file and the list of open cases."""
