"""Drives `rlm serve` with the official `openai` client's structured-output helpers and prints one JSON object.

Usage: openai_structured_client.py BASE_URL TOKEN MODEL RECORDS_JSON_FILE
The records ({user, amount} objects) are the context. The scripted model computes the totals per user for a
question about totals, and keeps submitting a value without `amount` for a question that says MISFIT.
"""
import json
import sys

import openai
from openai import OpenAI
from pydantic import BaseModel


class UserTotal(BaseModel):
    user: str
    amount: int


class Totals(BaseModel):
    totals: list[UserTotal]


base_url, token, model, records_file = sys.argv[1:5]
records = json.load(open(records_file))
client = OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=300)
question = "What is the total amount per user? Give every user."
report = {}


def failure(error):
    return {"status": error.status_code, "body": error.body}


# Whole: parse() sends the Pydantic model's strict schema and parses the reply into it.
whole = client.chat.completions.parse(
    model=model, messages=[{"role": "user", "content": question}], response_format=Totals,
    extra_body={"context": records},
)
report["parse"] = {
    "parsed": whole.choices[0].message.parsed.model_dump(),
    "content": whole.choices[0].message.content,
    "finish_reason": whole.choices[0].finish_reason,
    "rlm": (whole.model_extra or {}).get("rlm"),
}

# Streamed: the helper gathers the content deltas and parses them at the end.
with client.chat.completions.stream(
    model=model, messages=[{"role": "user", "content": question}], response_format=Totals,
    extra_body={"context": records},
) as stream:
    deltas = [event.delta for event in stream if event.type == "content.delta"]
    final = stream.get_final_completion()
report["stream"] = {
    "parsed": final.choices[0].message.parsed.model_dump(),
    "deltas": deltas,
    "finish_reason": final.choices[0].finish_reason,
}

# json_object: any JSON object.
anything = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": question}], response_format={"type": "json_object"},
    extra_body={"context": records},
)
report["json_object"] = {
    "content": anything.choices[0].message.content,
    "rlm_format": ((anything.model_extra or {}).get("rlm") or {}).get("response_format"),
}

# A session: a text question first, then a follow-up in the same REPL with its own response_format.
first = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "How many records are there?"}], extra_body={"context": records},
)
session = (first.model_extra or {})["rlm"]["session"]
follow = client.chat.completions.parse(
    model=model, messages=[{"role": "user", "content": question}], response_format=Totals,
    extra_body={"session": session},
)
report["session"] = {
    "first": first.choices[0].message.content,
    "first_format": ((first.model_extra or {}).get("rlm") or {}).get("response_format"),
    "follow_parsed": follow.choices[0].message.parsed.model_dump(),
    "follow_session": ((follow.model_extra or {}).get("rlm") or {}).get("session") == session,
}

# Refusals before any run: an unknown type, a keyword the validator does not support.
try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                   response_format={"type": "xml"}, extra_body={"context": records})
    report["unknown_type"] = "accepted"
except openai.BadRequestError as error:
    report["unknown_type"] = failure(error)
try:
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], extra_body={"context": records},
        response_format={"type": "json_schema", "json_schema": {
            "name": "Mail", "strict": True,
            "schema": {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}}})
    report["unsupported_keyword"] = "accepted"
except openai.BadRequestError as error:
    report["unsupported_keyword"] = failure(error)

# Every submission misses `amount`: strict answers 422 with the last submission, whole and streamed.
misfit = "MISFIT: " + question
try:
    client.chat.completions.parse(model=model, messages=[{"role": "user", "content": misfit}], response_format=Totals,
                                  extra_body={"context": records})
    report["strict_misfit"] = "accepted"
except openai.UnprocessableEntityError as error:
    report["strict_misfit"] = failure(error)
try:
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": misfit}],
                                        response_format=Totals, extra_body={"context": records}) as stream:
        for _ in stream:
            pass
        stream.get_final_completion()
    report["strict_misfit_stream"] = "accepted"
except openai.APIError as error:
    report["strict_misfit_stream"] = {"type": type(error).__name__, "message": error.message, "body": error.body}

# Without strict: the best JSON, 200, and the problems in the rlm extension.
loose = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": misfit}], extra_body={"context": records},
    response_format={"type": "json_schema", "json_schema": {
        "name": "Totals", "strict": False, "schema": Totals.model_json_schema()}})
report["loose_misfit"] = {
    "content": loose.choices[0].message.content,
    "finish_reason": loose.choices[0].finish_reason,
    "rlm_format": ((loose.model_extra or {}).get("rlm") or {}).get("response_format"),
}

print(json.dumps(report))
