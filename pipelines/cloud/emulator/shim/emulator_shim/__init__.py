"""The emulator's stand-ins for Google Cloud clients, applied inside each task process."""
