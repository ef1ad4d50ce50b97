"""The model's vocabulary: names of quadrants, lifecycle stages, activities and the monthly record's keys.

Kept apart from the model so that outputs, the engine and the docking reference can name what the model records
without importing it (and Mesa with it).
"""

from __future__ import annotations

QUADRANTS = ("loyalist", "hostage", "mercenary", "defector")
STAGES = ("exploration", "formation", "stability", "decline")  # relationship lifecycle (Dwyer et al. 1987)
# Activities whose cost is recorded (cost_NAME); the last two are issue 12's, zero in today's model.
ACTIVITIES = (
    "question",
    "complaint",
    "welcome_call",
    "outreach",
    "account_management",
    "field_service",
    "fixed_programme",
)

RECORD_KEYS = (
    "month",
    "active",
    "initial_cohort_active",
    "year_cohort_start",
    "year_cohort_active",
    "joined",
    "joined_by_referral",
    "left",
    "left_dissatisfied",
    "revenue",
    "gross_margin",
    *(f"cost_{activity}" for activity in ACTIVITIES),
    "cost_agent",
    "cost_ivr",
    "relationship_cost",
    "acquisition_cost",
    "profit",
    "discounted_profit",
    "contacts_agent",
    "contacts_ivr",
    "problems",
    "complaints",
    "problems_detected",
    "recovered",
    "silent_dissatisfaction_found",
    *QUADRANTS,
    *STAGES,
    "promoters",
    "detractors",
    "mean_satisfaction",
    "mean_commitment",
    "quality",
    "heard_good",
    "heard_bad",
    "happy_tellers",
    "unhappy_tellers",
    "good_mentions",
    "bad_mentions",
    "attraction",
    "concessions",  # $ of revenue conceded to powerful buyers (buyer_power_concession)
    "account_managers",  # managers the account teams take (accounts_per_manager; 0 without a capacity)
)


HEADLINE_KEYS = ("active", "left", "joined", "revenue", "relationship_cost", "profit", "complaints", "quality")

# Config fields a batch of runs holds per run (sim/core/batch.py); a batch's runs agree on every other field, so
# the sweep planner groups simulations by the others (sim/engine/plan.py).
VARYING = (
    "seed",
    "level",
    "tier_level",
    "tier_share",
    "n_customers",
    "competition",
    "competitor_entry_year",
    "problem_rate",
    "margin",
    "revenue_per_customer",
    "agent_contact_cost",
    "ivr_contact_cost",
    "partnership_cost",
    "acquisition_rate",
    "acquisition_cost_multiple",
    "keeping_cost_share",
    "discount_rate",
    "market_size_multiple",
)
