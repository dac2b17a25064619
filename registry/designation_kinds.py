"""The kinds of designation a regulator records, the regime each is taken under and the kinds of
subject each is about (DESIGN.md "Designations"). Plain data: the interchange validator, the model
and the admin read it."""
from __future__ import annotations

from django.db import models


class DesignationKind(models.TextChoices):
    SYSTEMIC_RISK_DESIGNATION = "systemic-risk-designation", "Designated a GPAI model with systemic risk (EU AI Act Art 52(4))"
    REBUTTAL_ACCEPTED = "rebuttal-accepted", "Rebuttal of the systemic-risk presumption accepted (EU AI Act Art 52)"
    COVERED_FRONTIER_MODEL = "covered-frontier-model", "Designated a covered frontier model (EO 14409)"


# The regime each kind of decision is taken under, and the kinds of subject it can be about: a pair
# other than these is refused, naming the field. The EU decisions and EO 14409's are about models.
REGIME_OF_KIND: dict[str, str] = {
    DesignationKind.SYSTEMIC_RISK_DESIGNATION: "eu-ai-act",
    DesignationKind.REBUTTAL_ACCEPTED: "eu-ai-act",
    DesignationKind.COVERED_FRONTIER_MODEL: "us-eo-14409",
}
SUBJECT_KINDS_OF_KIND: dict[str, tuple[str, ...]] = {
    DesignationKind.SYSTEMIC_RISK_DESIGNATION: ("model",),
    DesignationKind.REBUTTAL_ACCEPTED: ("model",),
    DesignationKind.COVERED_FRONTIER_MODEL: ("model",),
}
