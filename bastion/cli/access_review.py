"""``bastion access-review``: yearly access-review campaigns per vendor."""

from __future__ import annotations

from datetime import datetime

import click

from bastion.access_review import (
    ReviewError,
    close_overdue_campaigns,
    confirm_line,
    get_campaign,
    list_campaigns,
    open_campaign,
    revoke_line,
)
from bastion.access_review.staff_roles import confirm_staff_roles, overdue_staff_reviews
from bastion.models import utcnow

from .common import CliState, cli_actor, fail, pass_state


@click.group("access-review")
def access_review() -> None:
    """Yearly access review: confirm each technician's access, or it is suspended."""


def _counts(counts: dict[str, int]) -> str:
    order = ("pending", "confirmed", "revoked", "suspended")
    return ", ".join(f"{counts.get(name, 0)} {name}" for name in order)


@access_review.command("open")
@click.option("--vendor", required=True, help="The vendor's id, e.g. medilogic.")
@click.option("--deadline", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Last day to confirm (hospital time); unconfirmed access is suspended after it.")
@click.option("--note", help="Why or for whom the campaign is run (kept with it).")
@pass_state
def open_(state: CliState, vendor: str, deadline: datetime, note: str | None) -> None:
    """List every access the vendor's current contract allows, to confirm by DEADLINE."""
    with state.bastion() as core:
        try:
            info = open_campaign(core, vendor=vendor, deadline=deadline.date(), actor=cli_actor(),
                                 note=note)
        except ReviewError as exc:
            fail(exc.message)
    click.echo(f"access review {info.id} of {info.vendor}: {info.total} access(es) to confirm "
               f"by {info.deadline.isoformat()} (contract {info.contract_reference})")


@access_review.command("status")
@click.option("--vendor", help="Only this vendor.")
@click.option("--all", "everything", is_flag=True, help="Closed campaigns too.")
@pass_state
def status(state: CliState, vendor: str | None, everything: bool) -> None:
    """Campaigns: open, overdue (deadline passed, suspensions pending) or closed."""
    now = utcnow()
    with state.bastion() as core:
        campaigns = list_campaigns(core, vendor=vendor, open_only=not everything)
    if not campaigns:
        click.echo("no campaign" + ("" if everything else " open"))
    for c in campaigns:
        click.echo(f"{c.id:<5} {c.state(now):<8} {c.vendor:<16} deadline {c.deadline.isoformat()}  "
                   f"{_counts(c.counts)}")


@access_review.command("show")
@click.argument("campaign_id", type=int)
@pass_state
def show(state: CliState, campaign_id: int) -> None:
    """The lines of a campaign: line id, decision, technician, account@target."""
    with state.bastion() as core:
        try:
            detail = get_campaign(core, campaign_id)
        except ReviewError as exc:
            fail(exc.message)
    c = detail.campaign
    click.echo(f"access review {c.id} of {c.vendor} ({c.state()}), deadline "
               f"{c.deadline.isoformat()}, opened by {c.opened_by}: {_counts(c.counts)}")
    for line in detail.lines:
        by = f"  by {line.decided_by}" if line.decided_by else ""
        click.echo(f"{line.id:<6} {line.decision:<10} {line.technician:<16} "
                   f"{line.account}@{line.target}{by}")


@access_review.command("confirm")
@click.argument("line_id", type=int)
@click.option("--comment", help="Kept with the decision.")
@pass_state
def confirm(state: CliState, line_id: int, comment: str | None) -> None:
    """Confirm that the access of line LINE_ID is still needed (lifts a suspension)."""
    with state.bastion() as core:
        try:
            line = confirm_line(core, line_id, actor=cli_actor(), comment=comment)
        except ReviewError as exc:
            fail(exc.message)
    click.echo(f"line {line.id}: {line.technician}'s access to {line.account}@{line.target} confirmed")


@access_review.command("revoke")
@click.argument("line_id", type=int)
@click.option("--reason", required=True, help="Why the access is no longer needed.")
@pass_state
def revoke(state: CliState, line_id: int, reason: str) -> None:
    """Revoke the access of line LINE_ID: refused from now on, live grants revoked."""
    with state.bastion() as core:
        try:
            line = revoke_line(core, line_id, actor=cli_actor(), reason=reason)
        except ReviewError as exc:
            fail(exc.message)
    click.echo(f"line {line.id}: {line.technician}'s access to {line.account}@{line.target} revoked")


@access_review.command("close-overdue")
@pass_state
def close_overdue(state: CliState) -> None:
    """Suspend what was not confirmed by its deadline (also run by 'bastion serve')."""
    with state.bastion() as core:
        report = close_overdue_campaigns(core, actor=cli_actor())
    click.echo(f"{len(report.campaigns)} campaign(s) closed, {len(report.suspended)} access(es) "
               f"suspended, {len(report.grants_revoked)} grant(s) revoked")
    for line in report.suspended:
        click.echo(f"  suspended: {line.technician} on {line.account}@{line.target} "
                   f"(review {line.campaign_id})")


@access_review.command("staff")
@pass_state
def staff(state: CliState) -> None:
    """Staff whose roles are due for their yearly review (or suspended for want of it)."""
    with state.bastion() as core:
        due = overdue_staff_reviews(core)
    for review in due:
        last = review.last_review.date().isoformat() if review.last_review else "never"
        state_text = ("roles SUSPENDED" if review.suspended_at is not None
                      else f"roles suspended on {review.suspend_at.date().isoformat()}")
        click.echo(f"{review.username:<20} {','.join(review.roles):<22} last confirmed {last}; "
                   f"{state_text}")
    click.echo(f"{len(due)} staff member(s) due for review", err=True)


@access_review.command("confirm-staff")
@click.argument("username")
@click.option("--comment", help="Why the roles are still needed.")
@pass_state
def confirm_staff(state: CliState, username: str, comment: str | None) -> None:
    """Confirm USERNAME's roles are still needed (run as another admin or the DPO: --as)."""
    with state.bastion() as core:
        try:
            if state.operator:
                roles = confirm_staff_roles(core, username, reviewer=state.operator,
                                            actor=cli_actor(), comment=comment)
            else:
                roles = confirm_staff_roles(core, username, reviewer=None,
                                            actor=cli_actor(bootstrap=True), comment=comment)
        except ReviewError as exc:
            fail(exc.message)
    click.echo(f"roles of {username} confirmed: {', '.join(roles)}")
