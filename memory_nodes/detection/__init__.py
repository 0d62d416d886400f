"""The detector of "memory from pixels": its dataset rendered by the simulator, its training.

``memstack detector dataset`` renders images and instance masks of the training, validation and
test FloorPlans into the ultralytics YOLO segmentation format, ``memstack detector train``
trains a segmentation model from scratch on the CPU, and ``memstack detector evaluate`` reports
mask mAP50 and per-class AP on the test FloorPlans. The class names are the memory's object
types (:mod:`memory_nodes.core.object_taxonomy`), so a detection is an object type as it is.
This package reads the simulator's truth (instance masks) to make labels; the robot's loop
never imports it.
"""
