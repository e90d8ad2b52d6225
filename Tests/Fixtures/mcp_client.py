"""Drives `rlm mcp` with the official `mcp` Python SDK client over stdio.

Usage: mcp_client.py CONFIG_JSON
CONFIG_JSON holds: command, args, env, cwd, calls (a list of rlm_ask argument objects).
Prints one JSON object: the tools listed, and for each call its result (as on the wire) and the progress
notifications received while it ran.
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(config):
    server = StdioServerParameters(command=config["command"], args=config["args"], env=config["env"], cwd=config["cwd"])
    report = {"tools": [], "calls": []}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            report["tools"] = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
            for arguments in config["calls"]:
                progress = []

                async def on_progress(value, total, message, progress=progress):
                    progress.append({"progress": value, "total": total, "message": message})

                result = await session.call_tool("rlm_ask", arguments, progress_callback=on_progress)
                report["calls"].append({
                    "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                    "progress": progress,
                })
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
