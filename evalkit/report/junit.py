"""junit.xml: the gate results as one JUnit test suite, the format every CI system displays."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from evalkit.results import Results


def junit_xml(results: Results) -> str:
    """`<testsuites>` with one `<testsuite name="evalkit.<suite>">`, one testcase per gate result."""
    gates = results.gates.results if results.gates else []
    failures = sum(g.passed is False for g in gates)
    skipped = sum(g.passed is None for g in gates)
    time = f"{results.duration_s:.3f}"
    name = f"evalkit.{results.suite.name}"
    counts = {"tests": str(len(gates)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": name, **counts, "time": time})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            **counts,
            "skipped": str(skipped),
            "time": time,
            "timestamp": results.created_at,
        },
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_id", results.run_id),
        ("suite_sha256", results.suite.sha256),
        ("verdict", results.verdict.sentence),
    ):
        if value:
            ET.SubElement(props, "property", {"name": key, "value": str(value)})
    for g in gates:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "evalkit.gates", "name": f"{g.rule} {g.check}", "time": "0"},
        )
        if g.passed is False:
            failure = ET.SubElement(
                case, "failure", {"message": g.evidence[:200], "type": "GateFailed"}
            )
            failure.text = g.evidence
        elif g.passed is None:
            ET.SubElement(case, "skipped", {"message": g.evidence})
        else:
            ET.SubElement(case, "system-out").text = g.evidence
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, results: Results) -> None:
    path.write_text(junit_xml(results), encoding="utf-8")
