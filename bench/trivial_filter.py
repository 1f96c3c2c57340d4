"""The trivial Python filter of the `ours_pyfilter` case: passes every message on unchanged.

Used as `--filter +trivial_filter.Passthrough` with bench/ on PYTHONPATH. It deliberately does not
subclass message_passing.base.Filter: any object with a `filter` method is a filter, and this keeps
the per-message cost to one Python call, which is what the case measures (the chain leaves its
native path for a Python filter, so messages are decoded to dicts and re-encoded around it).
"""


class Passthrough:
    def filter(self, message):
        return message
