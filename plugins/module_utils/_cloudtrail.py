# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: one small retried function per CloudTrail read API call."""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import call

TRAIL_NOT_FOUND = ("TrailNotFoundException", "CloudTrailARNInvalidException")
LIST_TAGS_BATCH = 20  # ListTags accepts at most 20 trail ARNs per request


def describe_trails(client):
    """Every trail visible in the client's region, shadow copies included (one call, not paginated)."""
    return call(client, "describe_trails", includeShadowTrails=True)["trailList"]


def get_trail_status(client, trail_arn):
    return call(client, "get_trail_status", not_found=TRAIL_NOT_FOUND, resource=trail_arn, Name=trail_arn)


def default_event_selectors():
    """The selectors of a trail nobody gave any: all read and write management events, no data events."""
    return [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
             "ExcludeManagementEventSources": []}]


def get_event_selectors(client, trail_arn):
    """``{"EventSelectors": [...], "AdvancedEventSelectors": [...]}`` or None when the trail is gone."""
    result = call(client, "get_event_selectors", not_found=TRAIL_NOT_FOUND, resource=trail_arn, TrailName=trail_arn)
    if result is None:
        return None
    return {
        "EventSelectors": result.get("EventSelectors") or [],
        "AdvancedEventSelectors": result.get("AdvancedEventSelectors") or [],
    }


def get_insight_selectors(client, trail_arn):
    """The trail's insight selectors; ``[]`` when Insights are not enabled (InsightNotEnabledException)."""
    result = call(
        client,
        "get_insight_selectors",
        not_found=("InsightNotEnabledException", *TRAIL_NOT_FOUND),
        resource=trail_arn,
        TrailName=trail_arn,
    )
    return (result or {}).get("InsightSelectors") or []


def list_tags(client, trail_arns):
    """Tags of up to 20 trails in the client's region in one call: ``{arn: {key: value}}``."""
    if not trail_arns:
        return {}
    result = call(client, "list_tags", resource=",".join(trail_arns), ResourceIdList=list(trail_arns))
    tags = {}
    for item in result.get("ResourceTagList") or []:
        tags[item["ResourceId"]] = {t["Key"]: t.get("Value", "") for t in item.get("TagsList") or []}
    return tags


def describe_trail(client, trail_arn):
    """The one trail ``trail_arn`` (client in its home region) or None when it does not exist."""
    result = call(
        client,
        "describe_trails",
        not_found=TRAIL_NOT_FOUND,
        resource=trail_arn,
        trailNameList=[trail_arn],
        includeShadowTrails=False,
    )
    for trail in (result or {}).get("trailList") or []:
        if trail.get("TrailARN") == trail_arn:
            return trail
    return None
