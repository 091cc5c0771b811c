"""Visualisation (OpenCV allowed here, never in ``core``): annotated debug
images and video writers."""
