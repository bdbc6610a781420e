"""``onprem-mlops rollout``: the phases run through ansible-runner, their gates, the journal
and the management report."""
