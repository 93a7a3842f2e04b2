"""Finding faces and their landmarks: detectors, the Landmarker, the one labelling function, worker
threads and Dask (docs/architecture.md).
"""
