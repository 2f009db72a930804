"""Serialization cost per object: batchaio's converter next to plain orjson on the same bytes.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_serde [--count N]``

- structure: ``decode(BatchTask, body)`` of a completed task with execution info, node info,
  statistics, resource files, output files and environment settings, against ``orjson.loads``
  of the same bytes;
- unstructure: ``converter.unstructure`` and ``encode`` of a create-task body, against
  ``orjson.dumps`` of its plain-dict form.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import orjson

from batchaio import models
from batchaio._serde import converter, decode, encode

FULL_TASK: dict[str, Any] = {
    "odata.metadata": "https://acct.westeurope.batch.azure.com/$metadata#tasks/@Element",
    "id": "task-000042",
    "displayName": "render frame 42",
    "url": "https://acct.westeurope.batch.azure.com/jobs/render-job/tasks/task-000042",
    "eTag": "0x8DC9B2F8F1E5A3C",
    "lastModified": "2024-07-01T10:15:30.1234567Z",
    "creationTime": "2024-07-01T10:15:30.1234567Z",
    "exitConditions": {
        "exitCodes": [{"code": 3, "exitOptions": {"jobAction": "terminate", "dependencyAction": "block"}}],
        "exitCodeRanges": [{"start": 100, "end": 200, "exitOptions": {"jobAction": "none"}}],
        "default": {"jobAction": "none", "dependencyAction": "satisfy"},
    },
    "state": "completed",
    "stateTransitionTime": "2024-07-01T10:22:41.5470019Z",
    "previousState": "running",
    "previousStateTransitionTime": "2024-07-01T10:16:02.32Z",
    "commandLine": "/bin/bash -c 'render --frame 42 --out $AZ_BATCH_TASK_WORKING_DIR/out'",
    "resourceFiles": [
        {
            "httpUrl": "https://store.blob.core.windows.net/in/scene.blend?sv=2022&sig=abc",
            "filePath": "scene.blend",
        },
        {
            "storageContainerUrl": "https://store.blob.core.windows.net/tex?sv=2022&sig=def",
            "blobPrefix": "4k/",
        },
        {"autoStorageContainerName": "tools", "filePath": "tools", "fileMode": "0755"},
    ],
    "outputFiles": [
        {
            "filePattern": "out/*.png",
            "destination": {
                "container": {"containerUrl": "https://store.blob.core.windows.net/out?sig=x", "path": "f42"}
            },
            "uploadOptions": {"uploadCondition": "tasksuccess"},
        },
        {
            "filePattern": "../std*.txt",
            "destination": {"container": {"containerUrl": "https://store.blob.core.windows.net/logs?sig=y"}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        },
    ],
    "environmentSettings": [
        {"name": "FRAME", "value": "42"},
        {"name": "QUALITY", "value": "high"},
        {"name": "RENDER_TOKEN", "value": "s3cr3t"},
    ],
    "affinityInfo": {"affinityId": "TVM:tvmps_abc_d"},
    "constraints": {
        "maxWallClockTime": "P10675199DT2H48M5.4775807S",
        "retentionTime": "P7D",
        "maxTaskRetryCount": 3,
    },
    "requiredSlots": 1,
    "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
    "executionInfo": {
        "startTime": "2024-07-01T10:16:02.32Z",
        "endTime": "2024-07-01T10:22:41.5470019Z",
        "exitCode": 0,
        "retryCount": 0,
        "requeueCount": 0,
        "result": "success",
    },
    "nodeInfo": {
        "affinityId": "TVM:tvmps_abc_d",
        "nodeUrl": "https://acct.westeurope.batch.azure.com/pools/render/nodes/tvmps_abc_d",
        "poolId": "render",
        "nodeId": "tvmps_abc_d",
        "taskRootDirectory": "workitems/render-job/job-1/task-000042",
        "taskRootDirectoryUrl": "https://acct.westeurope.batch.azure.com/pools/render/nodes/tvmps_abc_d/files/x",
    },
    "stats": {
        "url": "https://acct.westeurope.batch.azure.com/jobs/render-job/tasks/task-000042/stats",
        "startTime": "2024-07-01T10:16:02.32Z",
        "lastUpdateTime": "2024-07-01T10:22:41.5470019Z",
        "userCPUTime": "PT6M31.125S",
        "kernelCPUTime": "PT4.5S",
        "wallClockTime": "PT6M39.227S",
        "readIOps": "1203",
        "writeIOps": "87",
        "readIOGiB": 1.25,
        "writeIOGiB": 0.031,
        "waitTime": "PT31.8S",
    },
    "dependsOn": {"taskIds": ["prep-1", "prep-2"], "taskIdRanges": [{"start": 1, "end": 40}]},
    "applicationPackageReferences": [{"applicationId": "blender", "version": "4.1"}],
}


def create_task(index: int) -> models.BatchTaskCreateContent:
    """A create-task body like a bulk submission sends."""
    return models.BatchTaskCreateContent(
        id=f"task-{index:06d}",
        display_name=f"render frame {index}",
        command_line=f"/bin/bash -c 'render --frame {index}'",
        resource_files=[
            models.ResourceFile(
                http_url="https://store.blob.core.windows.net/in/scene.blend?sig=a", file_path="s"
            ),
            models.ResourceFile(auto_storage_container_name="tools", file_path="tools"),
        ],
        output_files=[
            models.OutputFile(
                file_pattern="out/*.png",
                destination=models.OutputFileDestination(
                    container=models.OutputFileBlobContainerDestination(
                        container_url="https://store.blob.core.windows.net/out?sig=x", path=f"f{index}"
                    )
                ),
                upload_options=models.OutputFileUploadConfig(
                    upload_condition=models.OutputFileUploadCondition.TASK_SUCCESS
                ),
            )
        ],
        environment_settings=[
            models.EnvironmentSetting(name="FRAME", value=str(index)),
            models.EnvironmentSetting(name="QUALITY", value="high"),
        ],
        constraints=models.BatchTaskConstraints(max_task_retry_count=3),
        user_identity=models.UserIdentity(
            auto_user=models.AutoUserSpecification(
                scope=models.AutoUserScope.TASK, elevation_level=models.ElevationLevel.NON_ADMIN
            )
        ),
    )


def per_object_us(fn: Callable[[Any], Any], items: list[Any], rounds: int) -> float:
    """Best-of-``rounds`` time of ``fn`` over ``items``, in microseconds per item."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def main() -> None:
    """Run both benchmarks and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    bodies = [orjson.dumps({**FULL_TASK, "id": f"task-{i:06d}"}) for i in range(args.count)]
    tasks = [create_task(i) for i in range(args.count)]
    plain = [converter.unstructure(task) for task in tasks]
    decode(models.BatchTask, bodies[0])  # build the hooks outside the timing
    encode(tasks[0])

    rows = [
        (
            "structure full BatchTask",
            per_object_us(lambda b: decode(models.BatchTask, b), bodies, args.rounds),
        ),
        ("  orjson.loads same bytes", per_object_us(orjson.loads, bodies, args.rounds)),
        ("unstructure create-task", per_object_us(converter.unstructure, tasks, args.rounds)),
        ("encode create-task (check+dumps)", per_object_us(encode, tasks, args.rounds)),
        ("  orjson.dumps same dict", per_object_us(orjson.dumps, plain, args.rounds)),
    ]
    print(f"{args.count} objects, best of {args.rounds} rounds, microseconds per object")
    for name, value in rows:
        print(f"{name:36} {value:8.2f}")
    print(f"ratio structure / orjson.loads:    {rows[0][1] / rows[1][1]:6.1f}x")
    print(f"ratio unstructure / orjson.dumps:  {rows[2][1] / rows[4][1]:6.1f}x")
    print(f"ratio encode / orjson.dumps:       {rows[3][1] / rows[4][1]:6.1f}x")


if __name__ == "__main__":
    main()
