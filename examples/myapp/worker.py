"""The worker filter of the distributor example (README): tags each message with the worker's
process id, so that the round-robin distribution can be seen, and passes it on."""

import os


class MessageWorker:
    def filter(self, message):
        message["worker_pid"] = os.getpid()
        return message
