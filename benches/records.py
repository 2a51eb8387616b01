"""What the A/B bench scripts share: the machine line, one measure of two builds side by side
(medians over the rounds, every round kept) and the JSON record written under reports/."""
import json
import os
import platform
import statistics


def machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def old_new(olds, news, key, unit):
    """The median of `key` over the old and the new build's rounds; `unit` names the figures
    (`seconds`, or empty for rates)."""
    o = statistics.median(r[key] for r in olds)
    n = statistics.median(r[key] for r in news)
    suffix = f"_{unit}" if unit else ""
    return {f"old{suffix}": o, f"new{suffix}": n, "new_over_old": n / o,
            "old_runs": [r[key] for r in olds], "new_runs": [r[key] for r in news]}


def write(path, record):
    if path:
        with open(path, "w") as f:
            f.write(json.dumps(record, indent=2) + "\n")
