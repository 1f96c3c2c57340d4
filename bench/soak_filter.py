"""The Python filter of the soak's `pyfilter` aggregator (bench/soak.py): a little more than a
passthrough, so that the Python path's allocations are all soaked.

Used as `--filter +soak_filter.Soak` with bench/ on PYTHONPATH. Of the JSON objects it gets, it
drops those whose "level" is "debug" (returns None), raises on those that have a "boom" key (each
becomes a Filter error record, with its traceback, on the error chain), and adds a key to the
others; anything else (JSON arrays) passes unchanged. bench/soak_sender.py sends each kind at a
known rate, so that the soak can check that every message ended where it should.
"""


class Soak:
    def __init__(self, tag="soak"):
        self.tag = tag

    def filter(self, message):
        if isinstance(message, dict):
            if message.get("level") == "debug":
                return None
            if "boom" in message:
                raise ValueError(f"boom at message {message.get('n')}")
            message["filtered_by"] = self.tag
        return message
