"""junit.xml: the gate results as one JUnit test suite, the format every CI system displays.

ElementTree escapes markup but writes any character it is given, and XML 1.0 forbids most
control characters: every string goes through `xml_text`, so the file is always well-formed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from evalkit.jsonutil import WRITE_ERRORS
from evalkit.report.escape import shown_escaped
from evalkit.results import Results, redacted

# what XML 1.0 does not allow in a document (control characters, lone surrogates, U+FFFE/F)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """Any value as text XML allows: forbidden characters written as \\xNN or \\uNNNN."""
    return shown_escaped(str(value), _NOT_XML)


def junit_xml(results: Results) -> str:
    """`<testsuites>` with one `<testsuite name="evalkit.<suite>">`, one testcase per gate result."""
    results = redacted(results)
    gates = results.gates.results if results.gates else []
    failures = sum(g.passed is False for g in gates)
    skipped = sum(g.passed is None for g in gates)
    time = f"{results.duration_s:.3f}"
    name = xml_text(f"evalkit.{results.suite.name}")
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
            "timestamp": xml_text(results.created_at),
        },
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_id", results.run_id),
        ("suite_sha256", results.suite.sha256),
        ("verdict", results.verdict.sentence),
    ):
        if value:
            ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})
    for g in gates:
        evidence = xml_text(g.evidence)
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "evalkit.gates", "name": xml_text(f"{g.rule} {g.check}"), "time": "0"},
        )
        if g.passed is False:
            failure = ET.SubElement(
                case, "failure", {"message": evidence[:200], "type": "GateFailed"}
            )
            failure.text = evidence
        elif g.passed is None:
            ET.SubElement(case, "skipped", {"message": evidence})
        else:
            ET.SubElement(case, "system-out").text = evidence
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, results: Results) -> None:
    path.write_text(junit_xml(results), encoding="utf-8", errors=WRITE_ERRORS)
