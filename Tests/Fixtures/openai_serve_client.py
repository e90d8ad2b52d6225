"""Drives `rlm serve` with the official `openai` Python client and prints one JSON object of what it saw.

Usage: openai_serve_client.py BASE_URL TOKEN MODEL
"""
import json
import sys

import openai
from openai import OpenAI

base_url, token, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=300)
report = {}

report["models"] = [m.id for m in client.models.list().data]

plain = client.chat.completions.create(
    model=model,
    messages=[
        {"role": "system", "content": "The meeting is in room 42."},
        {"role": "user", "content": "Which room?"},
    ],
)
report["plain_answer"] = plain.choices[0].message.content
report["plain_finish_reason"] = plain.choices[0].finish_reason
report["plain_total_tokens"] = plain.usage.total_tokens
report["plain_rlm_status"] = (plain.model_extra or {}).get("rlm", {}).get("status")

stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Which room?"}],
    stream=True,
    stream_options={"include_usage": True},
    extra_body={"context": "The meeting is in room 42."},
)
text, progress, usage, finish = "", [], None, None
for chunk in stream:
    extra = chunk.model_extra or {}
    if extra.get("rlm_progress"):
        progress.append(extra["rlm_progress"]["event"])
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
report["stream_answer"] = text
report["stream_progress_events"] = progress
report["stream_total_tokens"] = usage
report["stream_finish_reason"] = finish

try:
    OpenAI(base_url=base_url, api_key="not-the-token", max_retries=0).models.list()
    report["wrong_token"] = "accepted"
except openai.AuthenticationError as error:
    report["wrong_token"] = f"refused {error.status_code}"

print(json.dumps(report))
