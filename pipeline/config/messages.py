"""One sentence per configuration failure: "crop.size: must be an integer, got 'big'"."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from pipeline.config.schema import Config, FieldProblem, Source


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def annotation_at(loc: tuple) -> Any:
    """The declared type at `loc` below Config (None when it cannot be followed)."""
    current: Any = Config
    for part in loc:
        while get_origin(current) is Annotated or (get_args(current) and type(None) in get_args(current)):
            args = [arg for arg in get_args(current) if arg is not type(None)]
            current = args[0]
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    while get_origin(current) is Annotated or (get_args(current) and type(None) in get_args(current)):
        current = [arg for arg in get_args(current) if arg is not type(None)][0]
    return current


def allowed_keys(loc: tuple) -> list[str]:
    owner = annotation_at(loc)
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        return [name for name in owner.model_fields if not (owner is Source and name == "name")]
    if isinstance(owner, type) and hasattr(owner, "__annotations__"):  # a TypedDict
        return list(owner.__annotations__)
    return []


def sentence(error: dict) -> str:
    """One pydantic error as "path: what is wrong, got what"."""
    loc, kind, ctx, value = tuple(error["loc"]), error["type"], error.get("ctx") or {}, error.get("input")
    got = f", got {shown(value)}"
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):
        problem = ctx["error"]
        return f"{path((*loc, problem.field))}: {problem.sentence}"
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        where = path(loc[:-1]) or "params.yaml"
        return f"{path(loc)}: is not a setting of {where}" + (f" (it takes {', '.join(allowed)})" if allowed else "")
    messages = {
        "missing": "is required but missing",
        "int_type": "must be an integer" + got,
        "float_type": "must be a number" + got,
        "finite_number": "must be a finite number" + got,
        "bool_type": "must be true or false" + got,
        "string_type": "must be a string" + got,
        "literal_error": f"must be one of {ctx.get('expected')}" + got,
        "greater_than": f"must be greater than {ctx.get('gt')}" + got,
        "greater_than_equal": f"must be at least {ctx.get('ge')}" + got,
        "less_than": f"must be less than {ctx.get('lt')}" + got,
        "less_than_equal": f"must be at most {ctx.get('le')}" + got,
        "too_short": f"must hold at least {ctx.get('min_length')} item(s)" + got,
        "dict_type": "must be a mapping of settings" + got,
        "model_type": "must be a mapping of settings" + got,
        "model_attributes_type": "must be a mapping of settings" + got,
        "value_error": str(ctx.get("error", error["msg"])),
    }
    if kind in ("list_type", "tuple_type"):
        hint = f" (write [{value}] for a single item)" if isinstance(value, (str, int, float)) else ""
        return f"{path(loc)}: must be a list{got}{hint}"
    return f"{path(loc)}: {messages.get(kind, error['msg'][0].lower() + error['msg'][1:] + got)}"
