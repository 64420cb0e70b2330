"""``mlc deploy --target k8s``: plan and apply the compiled manifests with server-side apply,
prune, record releases, wait for rollouts, roll back. See README.md here and docs/deploy.md.

The ``kubernetes`` client is imported only when :func:`deploy`, :func:`rollback` or
:func:`status` run; planning is pure.
"""

from .apply import KubeError, KubeUnreachable, deploy, rollback, rollout_state, status
from .plan import Action, Plan, diff_object, label_objects, load_manifests, plan, render_plan
from .releases import Release, release_name

__all__ = ["Action", "KubeError", "KubeUnreachable", "Plan", "Release", "deploy", "diff_object", "label_objects",
           "load_manifests", "plan", "release_name", "render_plan", "rollback", "rollout_state", "status"]
