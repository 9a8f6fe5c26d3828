"""Run a playbook through ansible-runner (as AWX does) and print its results as JSON.

Run with the test-only virtualenv's python: runner_play.py DATA_DIR PLAYBOOK INVENTORY [ARGS].
Prints {"rc", "status", "results": [{"host", "task", "event", "res"}]} from runner's events.
"""

from __future__ import annotations

import json
import sys

import ansible_runner


def main() -> None:
    data_dir, playbook, inventory, *args = sys.argv[1:]
    run = ansible_runner.run(
        private_data_dir=data_dir,
        playbook=playbook,
        inventory=inventory,
        cmdline=" ".join(args) or None,
        quiet=True,
    )
    results = [
        {
            "host": event["event_data"].get("host"),
            "task": event["event_data"].get("task"),
            "event": event["event"],
            "res": event["event_data"].get("res", {}),
        }
        for event in run.events
        if event["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable")
    ]
    print(json.dumps({"rc": run.rc, "status": run.status, "results": results}))


if __name__ == "__main__":
    main()
