"""The built-in operations of data sessions (registered as entry points).

============================  ======================================================
operation                     frames of different shapes
============================  ======================================================
``median``                    cropped to the common shape (from the origin)
``stack`` (simple)            cropped to the common shape
``stack`` (reproject)         aligned on the WCS; the region every frame covers
``subtraction``               refused: every input must have the subtracted frame's
                              shape (cropping would subtract unrelated pixels)
``normalization``             each frame by itself (any shapes)
``color_image``               cropped (``align="crop"``) or aligned on the first
                              channel's WCS (``align="wcs"``)
``aperture_photometry``       each frame by itself, the target found through its WCS
``period_search``             no frames (a light curve)
============================  ======================================================

Modules: :mod:`.base` (the Operation class, results, the run context, schema helpers),
:mod:`.validation`, :mod:`.images` (FITS in and out, previews), :mod:`.plots`, and one
module per family of operations.
"""
