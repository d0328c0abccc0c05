"""The suite file's schema: what a user may write in `suite.yaml`, validated with pydantic.

Unknown keys are errors everywhere (`extra="forbid"`), so a typo never silently does nothing,
and types are strict: `limit: true` is not 1 and `cache: "no"` is not false. Paths stay as
written here; `evalkit.suite.load` resolves them against the suite file.
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from evalkit.credentials import find_secret
from evalkit.names import ARMS, NAME, RECORDED, RESERVED_NAMES, RUN_ID, ArmName

# `<provider>/<model>`: inspect-ai's form; the provider itself is checked when the suite loads
_MODEL = re.compile(r"^(?P<provider>[a-z0-9][a-z0-9_.\-]*)/(?P<name>[^\s\x00-\x1f\x7f]+)$")
# Upper bounds: beyond them a value is a typo, and some (a bootstrap of 10**12) would hang
MAX_TOKENS = 200_000
MAX_BOOTSTRAP = 100_000
MAX_CONNECTIONS = 1_000
MAX_TIMEOUT_S = 86_400
MAX_RETRIES = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _codec(v: str) -> str:
    try:
        codecs.lookup(v)
    except LookupError:
        raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, latin-1, cp1252)") from None
    return v


def _name(v: str, why: str) -> str:
    if not NAME.match(v):
        raise ValueError(f"use letters, digits, '-' and '_' ({why})")
    return v


def _model_string(v: str) -> str:
    m = _MODEL.match(v)
    if m is None:
        raise ValueError(
            "expected '<provider>/<model>' (e.g. openai/gpt-4o-mini, local/smollm2-135m-instruct)"
        )
    if m["provider"] == "openai-api" and len([p for p in v.split("/") if p]) < 3:
        raise ValueError("expected 'openai-api/<service>/<model>'")
    # inspect-ai's response cache files answers under the model string: '..' would leave it
    if ".." in v.split("/"):
        raise ValueError("a model string has no '..' segment")
    return v


def _no_credentials(url: str | None, key: str, instead: str) -> str | None:
    # a key in a URL's user-info would reach every log that records the endpoint
    if url is not None and find_secret(url, key):
        raise ValueError(f"{key} carries credentials; {instead}")
    return url


def _base_url(v: str | None) -> str | None:
    return _no_credentials(
        v,
        "base_url",
        "put the key in the provider's environment variable (e.g. OPENAI_API_KEY) instead, "
        "never in the suite file",
    )


class FewShot(Strict):
    """Few-shot examples drawn from a file and given to the prompt template as `examples`."""

    path: str
    encoding: str = "utf-8"
    input: str = "input"
    target: str = "target"
    n: int = Field(default=0, ge=0, description="0 = every row of the file")
    per_label: int | None = Field(default=None, ge=1, description="take this many per label")
    seed: int = 0

    _encoding_ok = field_validator("encoding")(classmethod(lambda cls, v: _codec(v)))


class Prompt(Strict):
    """A jinja2 template (file or inline text) that renders the user message for one item."""

    template: str | None = Field(default=None, description="path to a .jinja file")
    text: str | None = Field(default=None, description="inline jinja2 text")
    system: str | None = Field(default=None, description="inline jinja2 text for a system message")
    system_template: str | None = Field(default=None, description="path to a .jinja system message")
    fewshot: FewShot | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Prompt:
        if (self.template is None) == (self.text is None):
            raise ValueError("give exactly one of 'template' (a file) or 'text' (inline)")
        if self.system is not None and self.system_template is not None:
            raise ValueError("give at most one of 'system' (inline) or 'system_template' (a file)")
        return self


class NamedPrompt(Prompt):
    """One entry of an arm's `prompts:` list: a prompt with the name the leaderboard shows."""

    name: str = Field(description="letters, digits, '-' and '_'; unique in the list")

    _name_ok = field_validator("name")(
        classmethod(lambda cls, v: _name(v, "it names the prompt's task"))
    )


class Generate(Strict):
    max_tokens: int = Field(default=64, ge=1, le=MAX_TOKENS)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = None
    seed: int | None = 0
    stop: list[str] | None = None


class Price(Strict):
    """US dollars per million tokens."""

    input_per_mtok: float = Field(ge=0.0)
    output_per_mtok: float = Field(ge=0.0)


def _no_secrets(args: dict[str, Any]) -> dict[str, Any]:
    # A suite file is committed, and model_args reach the logs: secrets belong in the
    # provider's environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...), at any depth
    # (default_headers: {X-Api-Key: ...} included).
    if found := find_secret(args, "model_args"):
        raise ValueError(
            f"{found} looks like a secret; set it in the provider's environment "
            "variable instead (e.g. OPENAI_API_KEY), never in the suite file"
        )
    return args


class RecordedOutputs(Strict):
    """Outputs that already exist (production logs, a vendor's run): an arm's answers, read."""

    path: str
    format: Literal["auto", "jsonl", "csv"] = "auto"
    encoding: str = Field(default="utf-8", description="the file's text encoding")
    id: str = Field(default="id", description="the column holding the dataset item's id")
    output: str = Field(default="output", description="the column holding the arm's output")
    dataset: str | None = Field(
        default=None, description="a column naming each row's dataset (when datasets share ids)"
    )

    _encoding_ok = field_validator("encoding")(classmethod(lambda cls, v: _codec(v)))


# What evalkit itself puts on a server's command line; the arm's keys set them instead
SERVER_OWNED_ARGS = {
    "--host": "evalkit serves on 127.0.0.1",
    "--port": "use server.port",
    "--enable-lora": "server.adapter turns it on",
    "--lora-modules": "use server.adapter",
    "--served-model-name": "the arm's model names what the server serves",
}


class ServerAdapter(Strict):
    """A LoRA adapter the server loads at start (`--lora-modules name=path`), addressed by name."""

    name: str = Field(description="the name requests address it by (the arm's model)")
    path: str = Field(description="the PEFT adapter folder, relative to the suite file")

    _name_ok = field_validator("name")(
        classmethod(lambda cls, v: _name(v, "requests address the adapter by it"))
    )


class Server(Strict):
    """A model server evalkit starts for the run, waits for, and stops (docs/vllm.md)."""

    engine: Literal["vllm"]
    model: str = Field(
        min_length=1,
        description="what the server loads: a Hugging Face id or a model folder, as written",
    )
    adapter: ServerAdapter | None = None
    args: list[str] = Field(
        default_factory=list, description="more arguments for `vllm serve`, e.g. [--dtype, half]"
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="default: a free port")
    startup_timeout_s: float = Field(
        default=900, gt=0, le=MAX_TIMEOUT_S, description="seconds to wait for /health"
    )
    shutdown_timeout_s: float = Field(
        default=30, gt=0, le=3600, description="seconds between SIGTERM and SIGKILL"
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="the program before the model; default [vllm, serve] (tests: the test double)",
    )

    @field_validator("args")
    @classmethod
    def _args_ok(cls, v: list[str]) -> list[str]:
        if found := find_secret(v, "args"):
            raise ValueError(
                f"{found} looks like a secret; set VLLM_API_KEY in the environment instead "
                "(vLLM and evalkit's client both read it), never in the suite file"
            )
        for arg in v:
            flag = arg.split("=", 1)[0]
            if flag in SERVER_OWNED_ARGS:
                raise ValueError(f"evalkit sets {flag} itself: {SERVER_OWNED_ARGS[flag]}")
        return v

    @property
    def served_name(self) -> str:
        """The model name requests carry: the adapter's, or else the base model's."""
        return self.adapter.name if self.adapter else self.model


def _check_server(model: str, base_url: str | None, server: Server) -> None:
    """An arm's or the judge's `server:` beside its other keys: one endpoint, named once."""
    if base_url is not None:
        raise ValueError(
            "give either 'base_url' (a server already running) or 'server' (one evalkit "
            "starts), not both"
        )
    provider, _, rest = model.partition("/")
    served = rest.partition("/")[2]
    if provider != "openai-api" or served != server.served_name:
        raise ValueError(
            f"the server serves {server.served_name!r} here: give model: "
            f"openai-api/vllm/{server.served_name} (or leave 'model' out), found {model!r}"
        )


# the providers whose arms `api: completions` can send a plain prompt through
COMPLETIONS_PROVIDERS = ("openai-api",)


def _served_model(data: Any) -> Any:
    # `server:` with no `model:` answers as openai-api/vllm/<the name it serves>
    if isinstance(data, dict) and "model" not in data and isinstance(data.get("server"), dict):
        server = data["server"]
        adapter = server.get("adapter")
        name = adapter.get("name") if isinstance(adapter, dict) else server.get("model")
        if isinstance(adapter, dict) and isinstance(name, str) and not NAME.match(name):
            # said here: the model string made of it would be reported first, and less clearly
            raise ValueError(f"server.adapter.name {name!r}: use letters, digits, '-' and '_'")
        if isinstance(name, str):
            return {**data, "model": f"openai-api/vllm/{name}"}
    return data


class Arm(Strict):
    model: str = Field(
        description="an inspect-ai model string, e.g. openai/gpt-4o-mini; or 'recorded'"
    )
    model_args: dict[str, Any] = Field(default_factory=dict)

    _model_ok = field_validator("model")(
        classmethod(lambda cls, v: v if v == RECORDED else _model_string(v))
    )
    _model_args_ok = field_validator("model_args")(classmethod(lambda cls, v: _no_secrets(v)))
    _base_url_ok = field_validator("base_url")(classmethod(lambda cls, v: _base_url(v)))
    adapter: str | None = Field(default=None, description="path to a LoRA adapter (local models)")
    base_url: str | None = None
    prompt: Prompt | None = None
    prompts: list[NamedPrompt] | None = Field(
        default=None,
        description="several prompts: the best on the selection split is run (see `selection`)",
    )
    generate: Generate = Generate()
    price: Price | None = None
    outputs: RecordedOutputs | None = Field(
        default=None, description="model: recorded — the file of this arm's existing outputs"
    )
    server: Server | None = Field(
        default=None, description="a model server evalkit starts and stops (docs/vllm.md)"
    )
    api: Literal["chat", "completions"] = Field(
        default="chat",
        description="chat: /v1/chat/completions (the server applies the chat template); "
        "completions: the rendered prompt as plain text to /v1/completions (base models)",
    )

    _served = model_validator(mode="before")(classmethod(lambda cls, v: _served_model(v)))

    @field_validator("api")
    @classmethod
    def _api_ok(cls, v: str, info: ValidationInfo) -> str:
        model = info.data.get("model")
        if v == "completions" and isinstance(model, str):
            provider = model.partition("/")[0]
            if provider not in COMPLETIONS_PROVIDERS:
                raise ValueError(
                    f"api: completions sends a plain prompt to an OpenAI-compatible server's "
                    f"/v1/completions; {provider}/ has none (serve the model with 'server:', or "
                    "give model: openai-api/<service>/<model> with base_url)"
                )
        return v

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt_shorthand(cls, v: Any) -> Any:
        # `prompt: prompts/x.jinja` is shorthand for `prompt: {template: prompts/x.jinja}`
        return {"template": v} if isinstance(v, str) else v

    @field_validator("prompts")
    @classmethod
    def _two_or_more(cls, v: list[NamedPrompt] | None) -> list[NamedPrompt] | None:
        if v is not None and len(v) < 2:
            raise ValueError("list at least two prompts to choose among (one is 'prompt:')")
        names = [p.name for p in v or []]
        if twice := next((n for n in names if names.count(n) > 1), None):
            raise ValueError(f"the prompt name {twice!r} is listed twice")
        return v

    @model_validator(mode="after")
    def _one_prompt_key(self) -> Arm:
        if self.model == RECORDED:
            if self.outputs is None:
                raise ValueError("model: recorded needs 'outputs' (the file of its outputs)")
            live = [
                k
                for k in ("prompt", "prompts", "adapter", "base_url", "server")
                if getattr(self, k)
            ]
            if live or self.model_args:
                raise ValueError(
                    f"a recorded arm makes no model call; drop {', '.join(live or ['model_args'])}"
                )
            return self
        if self.outputs is not None:
            raise ValueError("'outputs' is for model: recorded; a live model answers itself")
        if self.server is not None:
            if self.adapter is not None:
                raise ValueError(
                    "a served adapter goes in server.adapter ({name, path}); drop 'adapter'"
                )
            _check_server(self.model, self.base_url, self.server)
        if (self.prompt is None) == (self.prompts is None):
            raise ValueError(
                "give exactly one of 'prompt' (one prompt) or 'prompts' (a list to choose from)"
            )
        prompts = [p for p in (self.prompt, *(self.prompts or ())) if p is not None]
        if self.api == "completions" and any(p.system or p.system_template for p in prompts):
            raise ValueError(
                "api: completions sends the rendered prompt as one plain text, with no "
                "messages; drop the prompt's system message (write it into the template)"
            )
        return self


class Dataset(Strict):
    path: str
    format: Literal["auto", "jsonl", "csv", "chat"] = "auto"
    encoding: str = Field(default="utf-8", description="the file's text encoding")
    input: str = "input"
    target: str = "target"
    id: str | None = Field(default=None, description="field holding a stable item id")
    kind: Literal["in_domain", "out_of_domain"] | None = Field(
        default=None, description="default: 'heldout' is in_domain, any other set out_of_domain"
    )
    limit: int | None = Field(default=None, ge=1, description="keep the first N rows")
    sample: int | None = Field(default=None, ge=1, description="draw N rows at random (seeded)")
    seed: int = 0
    allow_unknown_labels: bool = Field(
        default=False, description="targets outside the label set (e.g. out-of-scope) are allowed"
    )

    _encoding_ok = field_validator("encoding")(classmethod(lambda cls, v: _codec(v)))


class TaskOutput(Strict):
    format: Literal["text", "json"] = "text"
    field: str | None = Field(default=None, description="the JSON field holding the label")


class FieldRule(Strict):
    """How one field of an extraction target is normalised before answers are compared to it."""

    number: bool = Field(default=False, description="'$1,234.50', '1234.5' and 1234.5 are equal")
    ignore_case: bool = False
    collapse_whitespace: bool = Field(default=False, description="every run of spaces is one")


class TaskSpec(Strict):
    type: Literal["classification", "generation", "extraction"] = "classification"
    labels: list[str] | str | None = Field(default=None, description="inline list or a file path")
    output: TaskOutput = TaskOutput()
    fields: dict[str, FieldRule] = Field(
        default_factory=dict, description="extraction: normalisation rules by field path"
    )

    @field_validator("output")
    @classmethod
    def _output_fits_the_type(cls, v: TaskOutput, info: ValidationInfo) -> TaskOutput:
        kind = info.data.get("type")
        if kind == "classification" and v.format == "json" and not v.field:
            raise ValueError("output.format 'json' needs 'field': the key that holds the label")
        if kind == "extraction" and v.field:
            raise ValueError("an extraction task's answer is a whole JSON object; drop 'field'")
        return v

    @model_validator(mode="after")
    def _fits_the_type(self) -> TaskSpec:
        if self.type == "classification" and not self.labels:
            raise ValueError("a classification task needs 'labels' (a list or a file)")
        if self.fields and self.type != "extraction":
            raise ValueError("'fields' (normalisation rules) belong to an extraction task")
        return self

    @property
    def answer_format(self) -> str:
        """How answers are read: an extraction task's answers are always JSON objects."""
        return "json" if self.type == "extraction" else self.output.format


class FormatChecks(Strict):
    json_valid: bool | None = Field(default=None, alias="json", description="output parses as JSON")
    schema_path: str | None = Field(default=None, alias="schema", description="JSON schema file")
    regex: str | None = None
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=1)
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=1)
    label_in_set: bool | None = None

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, populate_by_name=True, allow_inf_nan=False
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from e
        return v


class JudgeCalibration(Strict):
    """When a judge counts as calibrated: its agreement with people on every criterion."""

    min_kappa: float = Field(
        default=0.6, ge=0.0, le=1.0, description="quadratic-weighted Cohen's kappa per criterion"
    )
    min_n: int = Field(default=30, ge=2, description="answers both the judge and people scored")


class RubricUse(Strict):
    rubric: str = Field(description="path to a rubric YAML file")
    datasets: list[str] | None = Field(default=None, description="default: every task dataset")
    pairwise: bool = True
    human_labels: str | None = Field(default=None, description="JSONL of human scores")
    calibration: JudgeCalibration = JudgeCalibration()


class CustomScorer(Strict):
    """A suite's own check or metric: a Python function (see docs/plugins.md)."""

    python: str | None = Field(
        default=None, description="path/to/file.py:function, relative to the suite file"
    )
    entry_point: str | None = Field(
        default=None, description="the name of an installed entry point (group evalkit.scorers)"
    )
    name: str | None = Field(default=None, description="the metric is custom.<name>")

    @model_validator(mode="after")
    def _one_source(self) -> CustomScorer:
        if (self.python is None) == (self.entry_point is None):
            raise ValueError("give exactly one of 'python' (file:function) or 'entry_point'")
        return self


class RefusalScorer(Strict):
    """XSTest's refusal classifiers on a generation task's answers: `refusal.<classifier>`."""

    classifiers: list[Literal["string_match", "judge"]] = Field(
        default_factory=lambda: ["string_match"],
        min_length=1,
        description="the paper's string match, and/or the suite's judge with the paper's "
        "classification prompt",
    )
    datasets: list[str] | None = Field(default=None, description="default: every task dataset")
    judge_method: Literal["generate", "loglik"] = Field(
        default="generate",
        description="generate: the judge names the class; loglik: the class whose name is most "
        "likely after the prompt (a multiple choice, as lm-eval scores one)",
    )
    judge_n: int | None = Field(
        default=None, ge=1, description="the judge classifies a seeded sample of this many items "
        "per dataset (default: every item)",
    )  # fmt: skip
    seed: int = 0
    calibration: JudgeCalibration = JudgeCalibration()

    @field_validator("classifiers")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("name each classifier once")
        return v


class Scorers(Strict):
    classification: bool = True
    format: FormatChecks | None = None
    rubrics: list[RubricUse] = Field(default_factory=list)
    refusal: RefusalScorer | None = None
    custom: list[CustomScorer] = Field(default_factory=list)


class Probe(Strict):
    """A forgetting probe: a probe pack, or an inspect-ai task answered with its own solver."""

    pack: str | None = Field(
        default=None, description="a built-in pack name or a path to a pack folder/manifest"
    )
    inspect_task: str | None = Field(
        default=None,
        description="an inspect-ai task: a registry name (inspect_evals/arc_easy) or file.py@name",
    )
    n: int | None = Field(default=None, ge=1, description="items drawn from the pack (seeded)")
    seed: int = 0
    method: Literal["generate", "loglik"] | None = Field(
        default=None, description="how both arms answer it; default: the pack's own method"
    )
    chance: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="an inspect task's accuracy by guessing (default 0); a pack declares its own",
    )
    classifier: Literal["string_match", "judge"] = Field(
        default="string_match",
        description="how a refusal pack's replies are classified: the paper's string match, "
        "or the suite's judge model with the paper's classification prompt",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Probe:
        if (self.pack is None) == (self.inspect_task is None):
            raise ValueError("give exactly one of 'pack' or 'inspect_task'")
        if self.inspect_task is not None and self.method is not None:
            raise ValueError(
                "an inspect_task is answered by its own solver and scorer; drop 'method'"
            )
        if self.inspect_task is not None and self.classifier == "judge":
            raise ValueError("an inspect_task is scored by its own scorer; drop 'classifier'")
        if self.pack is not None and self.chance is not None:
            raise ValueError("a pack declares its own chance level (its verdicts); drop 'chance'")
        return self


class Judge(Strict):
    model: str = Field(description="an inspect-ai model string; with 'server:' it may be left out")
    model_args: dict[str, Any] = Field(default_factory=dict)

    _model_ok = field_validator("model")(classmethod(lambda cls, v: _model_string(v)))
    _model_args_ok = field_validator("model_args")(classmethod(lambda cls, v: _no_secrets(v)))
    _base_url_ok = field_validator("base_url")(classmethod(lambda cls, v: _base_url(v)))
    base_url: str | None = None
    max_tokens: int = Field(default=512, ge=16, le=MAX_TOKENS)
    price: Price | None = None
    allow_self_grading: bool = Field(
        default=False, description="let an arm's own model judge (biased; refused by default)"
    )
    server: Server | None = Field(
        default=None, description="a model server evalkit starts and stops (docs/vllm.md)"
    )

    _served = model_validator(mode="before")(classmethod(lambda cls, v: _served_model(v)))

    @model_validator(mode="after")
    def _server_ok(self) -> Judge:
        if self.server is not None:
            _check_server(self.model, self.base_url, self.server)
        return self


class TrainingData(Strict):
    path: str
    format: Literal["auto", "jsonl", "csv", "chat"] = "auto"
    encoding: str = Field(default="utf-8", description="the file's text encoding")
    input: str = "input"
    target: str = "target"
    sample: int = Field(default=100, ge=1, description="training items scored for memorisation")
    seed: int = 0

    _encoding_ok = field_validator("encoding")(classmethod(lambda cls, v: _codec(v)))


class TrainingSplit(Strict):
    """Selection items carved from `training_data`: seeded, spread over the labels."""

    n: int = Field(ge=1, description="selection items drawn from the training data")
    seed: int = 0


class Selection(Strict):
    """Where an arm's `prompts:` are compared: a split no reported dataset shares an item with."""

    dev: Dataset | None = Field(default=None, description="a dataset of its own")
    from_training: TrainingSplit | None = Field(
        default=None, description="a seeded split of training_data"
    )

    @model_validator(mode="after")
    def _one_split(self) -> Selection:
        if (self.dev is None) == (self.from_training is None):
            raise ValueError(
                "give exactly one of 'dev' (a dataset) or 'from_training' (a split of "
                "training_data)"
            )
        return self


class TrainingCost(Strict):
    usd: float = Field(ge=0.0, description="what training the fine-tune cost, once")


class Decision(Strict):
    """The fine-tune-or-not reading: the primary metric's target and the fine-tune's cost."""

    target: float | None = Field(
        default=None,
        gt=0.0,
        description="the primary metric's target on held-out; default: the candidate's score",
    )
    training_cost: TrainingCost | None = None


class Contamination(Strict):
    ngram: int = Field(default=3, ge=1)
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)


# what a data audit finds, each a count `audit.fail_on` and `evalkit audit --fail-on` can name
AuditFinding = Literal[
    "duplicates", "conflicts", "leakage", "heldout_share", "pii", "label_errors", "disagreement"
]


class AuditSpec(Strict):
    """The run's data audit (docs/audit.md): written into the run folder, linked from the report."""

    path: str | None = Field(
        default=None, description="the file to audit (default: training_data's path)"
    )
    fail_on: list[AuditFinding] = Field(
        default_factory=list, description="findings that fail the run's gates when present"
    )


class Stats(Strict):
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    bootstrap: int = Field(default=2000, ge=100, le=MAX_BOOTSTRAP)
    seed: int = 0


class RunSettings(Strict):
    max_connections: int = Field(
        default=8,
        ge=1,
        le=MAX_CONNECTIONS,
        description="requests in flight at once per endpoint (server)",
    )
    max_retries: int = Field(
        default=2, ge=0, le=MAX_RETRIES, description="retries of a transient failure"
    )
    timeout: float = Field(default=120, gt=0, le=MAX_TIMEOUT_S, description="seconds per attempt")
    total_timeout: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="seconds per request, every attempt and wait included",
    )
    hedge_after: float | Literal["auto", "off"] = Field(
        default="auto",
        description="seconds before a slow attempt is raced by a second one; auto: 5× the "
        "endpoint's median answer time, at least 1 s",
    )
    client: Literal["auto", "native", "inspect"] = Field(
        default="auto",
        description="native: evalkit's own OpenAI-compatible client; inspect: inspect-ai's "
        "provider; auto: native where it supports the arm",
    )
    cache: bool = True
    max_errors: int = Field(default=0, ge=0, description="errored samples a gate tolerates")

    @field_validator("hedge_after")
    @classmethod
    def _positive(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and v <= 0:
            raise ValueError("hedge_after: give seconds > 0, 'auto' or 'off'")
        return v


# ">= 0.98": an operator and a number; the gate reads both groups back from stored results
COMPARATOR = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
Comparator = Annotated[str, Field(pattern=COMPARATOR.pattern)]


class NonInferior(Strict):
    margin: float = Field(ge=0.0)
    confidence: Literal[0.9, 0.95, 0.975, 0.99, 0.995] = 0.95


class Regression(Strict):
    tolerance: float = Field(default=0.0, ge=0.0)
    arm: ArmName = "candidate"


class GateCheck(Strict):
    """One check of a gate: exactly one key, each judged by its handler in `evalkit.gate`."""

    baseline: Comparator | None = None
    candidate: Comparator | None = None
    candidate_minus_baseline: Comparator | None = None
    non_inferior: NonInferior | None = None
    no_regression: Regression | None = None
    # not a check of its own: a rubric metric's check fails closed unless its judge is calibrated
    require_calibrated_judge: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> GateCheck:
        set_ = [k for k, v in self.__dict__.items() if v is not None and k != _REQUIRES]
        if len(set_) != 1:
            raise ValueError(
                f"a gate needs exactly one of: {', '.join(self.checks())} (found {set_ or 'none'})"
            )
        return self

    @classmethod
    def checks(cls) -> list[str]:
        """The keys that are checks (each judged by one handler), not options of a check."""
        return [k for k in cls.model_fields if k != _REQUIRES]

    def rule(self) -> tuple[str, Any]:
        """(the check's key, its settings)."""
        return next((k, v) for k, v in self.__dict__.items() if v is not None and k != _REQUIRES)


_REQUIRES = "require_calibrated_judge"


# `previous_candidate:` either names a run of the suite (its folder under reports/<suite>/) or
# picks one from the run store
PREVIOUS_KEYWORDS = ("last", "last-passed")


class RegisteredModel(Strict):
    """A registered model version in MLflow's registry, tagged with the run's results."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class MlflowTracking(Strict):
    uri: str | None = Field(
        default=None, description="tracking URI; --mlflow overrides it (file:, sqlite:, http:)"
    )
    experiment: str | None = Field(default=None, description="default: the suite's name")
    registered_model: RegisteredModel | None = None

    _uri_ok = field_validator("uri")(
        classmethod(
            lambda cls, v: _no_credentials(
                v,
                "uri",
                "set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or "
                "MLFLOW_TRACKING_TOKEN in the environment instead",
            )
        )
    )


class Tracking(Strict):
    mlflow: MlflowTracking | None = None


class Suite(Strict):
    name: str
    description: str = ""
    task: TaskSpec
    arms: dict[ArmName, Arm]
    datasets: dict[str, Dataset]
    scorers: Scorers = Scorers()
    probes: list[Probe] = Field(default_factory=list)
    probe_margin: NonInferior = NonInferior(margin=0.05)
    judge: Judge | None = None
    training_data: TrainingData | None = None
    selection: Selection | None = None
    decision: Decision | None = None
    contamination: Contamination = Contamination()
    audit: AuditSpec | None = None
    stats: Stats = Stats()
    run: RunSettings = RunSettings()
    prices: dict[str, Price] = Field(default_factory=dict, description="model string → price")
    gates: list[dict[str, GateCheck]] = Field(default_factory=list)
    allow_outside_paths: bool = Field(
        default=False, description="paths may resolve outside the suite's folder"
    )
    previous_candidate: str | None = Field(
        default=None,
        description="the release to compare the candidate with in every report: a run id of "
        "this suite, 'last' or 'last-passed'",
    )
    tracking: Tracking = Tracking()

    _name_ok = field_validator("name")(
        classmethod(lambda cls, v: _name(v, "it names the report folder"))
    )

    @field_validator("previous_candidate")
    @classmethod
    def _previous_ok(cls, v: str | None) -> str | None:
        if v is not None and v not in PREVIOUS_KEYWORDS and (not RUN_ID.match(v) or v == "latest"):
            raise ValueError(
                "give a run id of this suite (a folder name under reports/<suite>/), "
                "'last' or 'last-passed'"
            )
        return v

    @field_validator("arms")
    @classmethod
    def _both_arms(cls, v: dict[str, Arm]) -> dict[str, Arm]:
        missing = [a for a in ARMS if a not in v]
        if missing:
            raise ValueError(f"both arms are required; missing {', '.join(missing)}")
        return v

    @field_validator("gates")
    @classmethod
    def _one_path_per_gate(cls, v: list[dict[str, GateCheck]]) -> list[dict[str, GateCheck]]:
        for i, gate in enumerate(v):
            if len(gate) != 1:
                raise ValueError(
                    f"gates[{i}]: each gate is one mapping, '<metric path>: {{check}}'"
                )
        return v

    @field_validator("datasets")
    @classmethod
    def _datasets_ok(cls, v: dict[str, Dataset]) -> dict[str, Dataset]:
        if "heldout" not in v:
            raise ValueError("a 'heldout' dataset (in-domain, never trained on) is required")
        for name in v:
            if not NAME.match(name):
                raise ValueError(f"dataset name {name!r}: use letters, digits, '-' and '_'")
            if name in RESERVED_NAMES:
                raise ValueError(f"dataset name {name!r} is reserved; choose another")
        return v

    @model_validator(mode="after")
    def _selection_for_prompt_lists(self) -> Suite:
        listing = [a for a in ARMS if self.arms[a].prompts]
        if listing and self.selection is None:
            raise ValueError(
                f"arms.{listing[0]}.prompts lists several prompts: add a 'selection' block "
                "(a dev dataset or a split of training_data) to choose among them"
            )
        if self.selection is not None and not listing:
            raise ValueError("'selection' is given but no arm lists 'prompts' to choose among")
        if self.selection and self.selection.from_training and self.training_data is None:
            raise ValueError("selection.from_training needs 'training_data' to draw from")
        return self

    @model_validator(mode="after")
    def _recorded_answers_the_datasets_only(self) -> Suite:
        recorded = [a for a in ARMS if self.arms[a].model == RECORDED]
        if recorded and self.probes:
            raise ValueError(
                f"probes need both arms live; the {' and '.join(recorded)} arm is recorded "
                "(probe the model itself in a suite of its own)"
            )
        if recorded and self.training_data is not None:
            raise ValueError(
                f"training_data's memorisation sample needs both arms live; the "
                f"{' and '.join(recorded)} arm is recorded"
            )
        return self

    @model_validator(mode="after")
    def _audit_has_a_file(self) -> Suite:
        if self.audit is not None and self.audit.path is None and self.training_data is None:
            raise ValueError("audit: give its 'path', or a 'training_data' to audit")
        return self

    @model_validator(mode="after")
    def _judge_for_rubrics(self) -> Suite:
        if self.scorers.rubrics and self.judge is None:
            raise ValueError("rubric scorers need a 'judge' model; it is never the arm's model")
        if any(p.classifier == "judge" for p in self.probes or ()) and self.judge is None:
            raise ValueError("a probe with 'classifier: judge' needs a 'judge' model")
        refusal = self.scorers.refusal
        if refusal is not None and "judge" in refusal.classifiers and self.judge is None:
            raise ValueError("scorers.refusal's 'judge' classifier needs a 'judge' model")
        return self

    @model_validator(mode="after")
    def _refusal_on_generation(self) -> Suite:
        refusal = self.scorers.refusal
        if refusal is None:
            return self
        if self.task.type != "generation":
            raise ValueError(
                f"scorers.refusal classifies free-text answers; this is a {self.task.type} task"
            )
        unknown = [ds for ds in refusal.datasets or [] if ds not in self.datasets]
        if unknown:
            raise ValueError(
                f"scorers.refusal.datasets: unknown dataset {unknown[0]!r}; datasets in this "
                f"suite: {', '.join(self.datasets)}"
            )
        return self

    def refusal_classifiers(self) -> tuple[str, ...]:
        """The classifiers `scorers.refusal` runs; () without it."""
        refusal = self.scorers.refusal
        return () if refusal is None else tuple(refusal.classifiers)

    def refusal_datasets(self) -> tuple[str, ...]:
        """The task datasets `scorers.refusal` classifies; () without it."""
        refusal = self.scorers.refusal
        if refusal is None:
            return ()
        return tuple(refusal.datasets or self.datasets)

    def dataset_kind(self, name: str) -> str:
        kind = self.datasets[name].kind
        return kind or ("in_domain" if name == "heldout" else "out_of_domain")
