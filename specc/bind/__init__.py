"""Binding passes: the spec's names tied to the robot's URDF (`robot`) and to the scene (`scene`)."""
