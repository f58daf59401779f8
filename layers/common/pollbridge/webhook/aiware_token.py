"""WEBHOOK_AUTH=aiware-token: a /process call proves itself with the task token aiWARE gave it.

The engine toolkit sends no Authorization header, but every request carries the task's `token`
(documented as single-use and "specially scoped" to the task). It is checked with one GraphQL call,
asking aiWARE at AIWARE_API_URL (the deployment's setting, never a URL from the form) for the task
`payload.taskId` with that token: aiWARE answering with that task is the proof. The token is used for
that one call and never stored, logged or scheduled.
"""

from __future__ import annotations

from pollbridge.errors import PermanentError, TransientError, UnauthorizedError

TASK_QUERY = "query pollbridgeCheckTaskToken($id: ID!) { task(id: $id) { id } }"
TIMEOUT_S = 5.0


def check_task_token(api_url: str, token: str | None, task_id: str | None) -> None:
    """Raises UnauthorizedError unless aiWARE shows task `task_id` to the bearer of `token`;
    TransientError when aiWARE cannot be asked right now."""
    from pollbridge.adapters.sinks.aiware import graphql_url, post_graphql

    if not token or not task_id:
        raise UnauthorizedError("token: WEBHOOK_AUTH=aiware-token needs the task's `token` and `payload.taskId`")
    try:
        data = post_graphql(
            graphql_url(api_url), token, TASK_QUERY, {"id": task_id}, timeout_s=TIMEOUT_S, what="task token check"
        )
    except PermanentError:
        raise UnauthorizedError(f"token: aiWARE did not accept the task token for task {task_id}") from None
    except TransientError as error:
        raise TransientError(f"the task token could not be checked with aiWARE: {error}") from None
    task = data.get("task")
    if not isinstance(task, dict) or task.get("id") != task_id:
        raise UnauthorizedError(f"token: aiWARE did not show task {task_id} to the bearer of this token")
