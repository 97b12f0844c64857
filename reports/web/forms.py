"""Forms of the core pages, and ``SchemaForm``: a Django form made from a job type's
pydantic input model, so the form and the API validate with the same rules."""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal
from typing import Any, ClassVar, Literal

from django import forms
from django.contrib.auth.forms import UserCreationForm
from pydantic import BaseModel
from pydantic import ValidationError as SchemaError
from pydantic.fields import FieldInfo

from reports.domain.config import config
from reports.domain.money import usd_label
from reports.pipelines.inputs import error_message

BLANK_CHOICE = ("", "---------")


class SignupForm(UserCreationForm):
    """Sign-up that never tells whether a username exists (docs/security.md).

    A taken username passes validation like a free one; ``taken`` says which it was,
    and the view answers both the same way, creating an account only for a free one.
    """

    taken = False

    def clean_username(self) -> str:
        username: str = self.cleaned_data.get("username") or ""
        model = self._meta.model
        self.taken = bool(username) and model._default_manager.filter(
            username__iexact=username
        ).exists()
        return username

    def validate_unique(self) -> None:
        if not self.taken:
            super().validate_unique()


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``: for a form, an optional input is one that may be left empty."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _constraint(info: FieldInfo, name: str) -> Any:
    """A constraint such as ``min_length`` from ``Field(...)`` (pydantic keeps them in metadata)."""
    for item in info.metadata:
        value = getattr(item, name, None)
        if value is not None:
            return value
    return None


def max_length(info: FieldInfo) -> int | None:
    """The longest a text input may be, if the schema bounds it."""
    value = _constraint(info, "max_length")
    return int(value) if value is not None else None


def _choices(annotation: Any) -> list[tuple[str, str]] | None:
    """The choices of a ``Literal`` or an Enum (a Django ``TextChoices`` keeps its labels)."""
    if typing.get_origin(annotation) is Literal:
        return [(str(v), str(v)) for v in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [(str(m.value), str(getattr(m, "label", m.value))) for m in annotation]
    return None


def _default(info: FieldInfo) -> Any:
    value = info.get_default(call_default_factory=True)
    return value.value if isinstance(value, enum.Enum) else value


class LimitedCharField(forms.CharField):
    """A text field whose limit the page shows as a counter (static/js/forms.js) instead of
    a ``maxlength`` that lets the browser cut pasted text without a word; the server
    refuses over-long text with Django's message ("at most 200 characters (it has 250)")."""

    @property
    def shows_counter(self) -> bool:
        return self.max_length is not None

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        if attrs.pop("maxlength", None) is not None:
            attrs["data-maxlength"] = str(self.max_length)
        return attrs


def schema_field(
    info: FieldInfo,
    *,
    label: str | None = None,
    help_text: str = "",
    widget: forms.Widget | type[forms.Widget] | None = None,
    strip: bool = True,
) -> forms.Field:
    """A Django form field for one input of a pydantic model.

    Only what the schema says is checked here (required, max length, choices), so the
    form's messages stay Django's; ``SchemaForm.clean`` then runs the model itself.
    ``strip`` should be the model's ``str_strip_whitespace``, or "  " would mean two things.
    """
    annotation = _unwrap_optional(info.annotation)
    # A required string is one that may not be blank once stripped (min_length >= 1).
    required = info.is_required() and (
        annotation is not str or (_constraint(info, "min_length") or 0) >= 1
    )
    common: dict[str, Any] = {"required": required, "label": label, "help_text": help_text}
    if widget is not None:
        common["widget"] = widget
    if not info.is_required() and _default(info) not in (None, ""):
        common["initial"] = _default(info)
    choices = _choices(annotation)
    if choices is not None:
        if not info.is_required() and _default(info) is not None:
            # The select always sends one of its values: an empty one was never chosen.
            common["required"] = True
        else:
            choices = [BLANK_CHOICE, *choices]
        return forms.ChoiceField(choices=choices, **common)
    if annotation is Decimal:
        # Amounts are typed freely ("$50,000"); the model's validator reads them.
        common.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        return forms.CharField(**common)
    if annotation is str:
        return LimitedCharField(max_length=_constraint(info, "max_length"), strip=strip, **common)
    # Better to say so than to guess a field that would check less than the model.
    raise TypeError(f"SchemaForm cannot make a form field for {annotation!r}")


class SchemaForm(forms.Form):
    """A form whose fields come from ``schema`` (a pydantic model) and whose ``clean``
    validates with it: the form can never accept what the API refuses, nor the reverse.

    Subclasses set ``schema`` and optionally ``labels``, ``help_texts``, ``widgets`` and
    ``field_order``; ``cleaned_data`` is the model's dump (stripped, parsed values).
    """

    schema: ClassVar[type[BaseModel]]
    labels: ClassVar[dict[str, str]] = {}
    help_texts: ClassVar[dict[str, str]] = {}
    widgets: ClassVar[dict[str, forms.Widget | type[forms.Widget]]] = {}
    placeholders: ClassVar[dict[str, str]] = {}
    field_order: ClassVar[list[str] | None] = None  # type: ignore[misc]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        strip = bool(self.schema.model_config.get("str_strip_whitespace"))
        for name, info in self.schema.model_fields.items():
            self.fields[name] = schema_field(
                info,
                label=self.labels.get(name),
                help_text=self.help_texts.get(name, ""),
                widget=self.widgets.get(name),
                strip=strip,
            )
        self.order_fields(self.field_order)
        for name, field in self.fields.items():
            if name in self.placeholders:
                field.widget.attrs["placeholder"] = self.placeholders[name]
            if isinstance(field, LimitedCharField) and field.max_length:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}-counter"

    @property
    def limits_text(self) -> str:
        """Every length limit of the form, from the schema: "Limits: title 200 characters, ..."."""
        parts = [
            f"{str(self[name].label).lower()} {field.max_length:,}"
            for name, field in self.fields.items()
            if isinstance(field, LimitedCharField) and field.max_length
        ]
        if not parts:
            return ""
        return "Limits: " + ", ".join([parts[0] + " characters", *parts[1:]]) + "."

    def clean(self) -> dict[str, Any]:
        """Validate with the schema; its errors go to the fields they are about."""
        cleaned = super().clean() or {}
        inputs_only = {k: v for k, v in cleaned.items() if k in self.schema.model_fields}
        # Fields that are not the job's inputs (a generation's options) are Django's alone.
        extras = {k: v for k, v in cleaned.items() if k not in self.schema.model_fields}
        if self.errors:
            # A field Django already refused is missing from cleaned_data: the model
            # would only repeat it as "missing".
            data = {k: v for k, v in inputs_only.items() if k not in self.errors}
        else:
            data = inputs_only
        try:
            inputs = self.schema.model_validate(data)
        except SchemaError as exc:
            for error in exc.errors(include_url=False):
                field = str(error["loc"][0]) if error["loc"] else None
                if field in self.errors:
                    continue
                self.add_error(field if field in self.fields else None, error_message(error))
            return self.cleaned_data
        self.cleaned_data = {**extras, **inputs.model_dump()}
        return self.cleaned_data

    @property
    def input_data(self) -> dict[str, Any]:
        """The validated inputs, for ``job_create`` (which validates them once more)."""
        return {k: v for k, v in self.cleaned_data.items() if k in self.schema.model_fields}


class JobForm(SchemaForm):
    """A job type's form: its inputs, and the options of the generation it starts
    (``budget_usd``: what it may spend; a checkbox per review point the job type offers,
    ``review_points``: stage key -> what the person is asked)."""

    review_points: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in self.review_points.items():
            self.fields[f"review_{key}"] = forms.BooleanField(
                required=False, label=label,
                help_text="The stream waits for you there, holding nothing; approve, edit or "
                "rerun that stage on its card, then it goes on.",
            )
        default = config().stream_budget_usd
        self.fields["budget_usd"] = forms.DecimalField(
            required=False, label="Spending cap (USD)", min_value=Decimal("0.0001"),
            max_digits=12, decimal_places=4,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "e.g. 0.50"}),
            help_text="Generation stops when it has cost this much; Resume with a higher cap "
            "goes on. " + (f"Empty: the site's cap, {usd_label(default)}." if default
                           else "Empty: no cap."),
        )

    @property
    def input_fields(self) -> list[forms.BoundField]:
        """The job's inputs (the options come after them)."""
        return [self[name] for name in self.fields if name in self.schema.model_fields]

    @property
    def review_fields(self) -> list[forms.BoundField]:
        return [self[f"review_{key}"] for key in self.review_points]

    @property
    def review_after(self) -> list[str]:
        """The review points chosen for the first generation."""
        return [key for key in self.review_points if self.cleaned_data.get(f"review_{key}")]

    @property
    def budget_usd(self) -> Decimal | None:
        """The cap chosen for the first generation (None: the site's default)."""
        value: Decimal | None = self.cleaned_data.get("budget_usd")
        return value
