"""``status`` over many partitions: fresh partitions kept as ranges, not one object each (see ``gather``)."""
