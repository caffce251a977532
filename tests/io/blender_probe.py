"""Run by Blender's Python (``bpy`` from PyPI, in its own environment) for the tests: import one file with
Blender's own importer and print what Blender made of it as one JSON line.

Usage: python blender_probe.py FILE.(glb|gltf|bvh) FPS

The JSON: the armature's bone names, the action's frame range, the scene's frame rate (BVH: as the importer
set it from the file), the scene's frame range, and the world position of every bone's head at every frame
of the action, converted back from Blender's Z up to the file's Y up ((x, y, z) <- (x, z, -y)).
"""

from __future__ import annotations

import json
import sys

import bpy  # Blender's module: not installed in the package's environment


def main() -> None:
    path, fps = sys.argv[-2], float(sys.argv[-1])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if path.lower().endswith(".bvh"):
        bpy.ops.import_anim.bvh(
            filepath=path, update_scene_fps=True, update_scene_duration=True, use_fps_scale=False, frame_start=1
        )
    else:
        scene.render.fps, scene.render.fps_base = int(round(fps)), int(round(fps)) / fps
        bpy.ops.import_scene.gltf(filepath=path)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    action = arm.animation_data.action
    first, last = (int(round(x)) for x in action.frame_range)
    heads = []
    for f in range(first, last + 1):
        scene.frame_set(f)
        heads.append([list(arm.matrix_world @ b.head) for b in arm.pose.bones])
    out = {
        "bones": [b.name for b in arm.pose.bones],
        "action_range": [first, last],
        "scene_fps": scene.render.fps / scene.render.fps_base,
        "scene_range": [scene.frame_start, scene.frame_end],
        "heads": [[[x, z, -y] for x, y, z in frame] for frame in heads],
        "meshes": sum(1 for o in bpy.data.objects if o.type == "MESH" and o.find_armature() is arm),
    }
    print("BLENDER_PROBE " + json.dumps(out))


if __name__ == "__main__":
    main()
