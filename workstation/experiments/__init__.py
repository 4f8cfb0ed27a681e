"""Batches of registration experiments on dask.distributed, with exact replay."""
