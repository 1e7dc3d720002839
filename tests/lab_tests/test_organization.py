"""Organization trails as member accounts see them (the lab shows them; moto shows them nowhere)."""

from __future__ import annotations

import pytest

from lab import estates
from lab_tests.conftest import ACCOUNT, OTHER_ACCOUNT, make_bucket

pytestmark = pytest.mark.lab


@pytest.fixture
def org_trail(aws, other_account_creds):
    aws("organizations").create_organization(FeatureSet="ALL")
    estates.backdoor_organization(ACCOUNT, members=[OTHER_ACCOUNT])
    bucket = make_bucket(aws, "tg-lab-org-logs")
    trail = aws("cloudtrail").create_trail(
        Name="org", S3BucketName=bucket, IsMultiRegionTrail=True, IsOrganizationTrail=True
    )
    return trail["TrailARN"]


def test_member_account_sees_the_organization_trail(aws, org_trail, other_account_creds):
    for region in ("us-east-1", "us-west-2"):
        listed = aws("cloudtrail", region, other_account_creds).describe_trails(includeShadowTrails=True)["trailList"]
        assert [t["TrailARN"] for t in listed] == [org_trail]
        assert listed[0]["IsOrganizationTrail"] is True
        assert listed[0]["HomeRegion"] == "us-east-1"


def test_member_account_without_shadow_trails_sees_it_only_in_the_home_region(aws, org_trail, other_account_creds):
    home = aws("cloudtrail", "us-east-1", other_account_creds).describe_trails(includeShadowTrails=False)
    other = aws("cloudtrail", "us-west-2", other_account_creds).describe_trails(includeShadowTrails=False)
    assert [t["TrailARN"] for t in home["trailList"]] == [org_trail]
    assert other["trailList"] == []


def test_account_outside_the_organization_sees_nothing(aws, other_account_creds):
    aws("organizations").create_organization(FeatureSet="ALL")
    estates.backdoor_organization(ACCOUNT, members=[])
    make_bucket(aws, "tg-lab-org-logs-2")
    aws("cloudtrail").create_trail(Name="org", S3BucketName="tg-lab-org-logs-2", IsMultiRegionTrail=True,
                                   IsOrganizationTrail=True)
    assert aws("cloudtrail", "us-east-1", other_account_creds).describe_trails()["trailList"] == []


def test_non_organization_trails_stay_private(aws, org_trail, other_account_creds):
    make_bucket(aws, "tg-lab-private-logs")
    aws("cloudtrail").create_trail(Name="private", S3BucketName="tg-lab-private-logs", IsMultiRegionTrail=True)
    listed = aws("cloudtrail", "us-east-1", other_account_creds).describe_trails()["trailList"]
    assert [t["Name"] for t in listed] == ["org"]
