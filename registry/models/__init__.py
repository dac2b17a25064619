"""The registry's data model, one module per domain."""
from .accelerator import Accelerator
from .aimodel import AIModel, ModelRevision
from .cluster import AcceleratorGroup, Cluster, ClusterRevision, NetworkLink
from .designation import Designation, DesignationWithdrawal
from .organisation import Organisation, OrganisationModelCount, OrganisationRevision

__all__ = [
    "Accelerator",
    "AIModel",
    "ModelRevision",
    "AcceleratorGroup",
    "Cluster",
    "ClusterRevision",
    "NetworkLink",
    "Designation",
    "DesignationWithdrawal",
    "Organisation",
    "OrganisationModelCount",
    "OrganisationRevision",
]
