"""The smallest useful release policy: one documented dataset, one fairness gate, no templates.

For tests about what the policy does not ask for (no candidate, no image, no AWS target); they write
``eval.parquet`` with columns ``y`` (label), ``p`` (prediction) and ``g`` (group) next to it.
"""

MINIMAL_POLICY = """
policy_version: 1
release: {model: tabular}
owners:
  steward: {users: [tomas]}
datasets:
  eval: {uri: eval.parquet, owner: steward, description: held out, legal_basis: consent, label: y,
         prediction: p}
gates:
  - id: ethics
    owner: steward
    rationale: Outcomes must not differ by group.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
"""
