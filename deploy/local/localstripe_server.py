"""Run localstripe on one address, with its state kept in memory only.

``python -m deploy.local.localstripe_server --host 127.0.0.1 --port 8420``

localstripe's own CLI (``python -m localstripe``) binds ``::`` (every interface, IPv4 and
IPv6) and pickles its whole store to ``/tmp/localstripe.pickle`` after every write, and
reloads it at the next start. That file is shared by every localstripe on the machine, so two
stacks (say ``make run`` and the tests) would read each other's customers and payments. This
runner serves the same aiohttp ``app`` on the given address only, and turns the dump and the
reload into no-ops at run time (the installed package is left as it is): a restart starts
empty, like the other in-memory stand-ins.

It also declines Stripe's documented decline test payment methods (``pm_card_visa_chargeDeclined``,
``pm_card_chargeDeclinedInsufficientFunds``, ...) the way Stripe's test mode does, with Stripe's
error and decline codes; localstripe alone charges most of them (see :data:`DECLINED_CARDS`).

SIGTERM or SIGINT stops it cleanly (exit code 0).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, NamedTuple


class Decline(NamedTuple):
    """How Stripe refuses a test card: the error's ``code``, ``decline_code`` and message."""

    code: str
    decline_code: str
    message: str


_DECLINED = "Your card was declined."
# Stripe's decline test cards (docs.stripe.com/testing, "Declined payments"), by card number.
DECLINED_CARDS: dict[str, Decline] = {
    "4000000000000002": Decline("card_declined", "generic_decline", _DECLINED),
    "4000000000000341": Decline("card_declined", "generic_decline", _DECLINED),
    "4000000000009995": Decline("card_declined", "insufficient_funds",
                                "Your card has insufficient funds."),
    "4000000000009987": Decline("card_declined", "lost_card", _DECLINED),
    "4000000000009979": Decline("card_declined", "stolen_card", _DECLINED),
    "4000000000006975": Decline("card_declined", "card_velocity_exceeded", _DECLINED),
    "4100000000000019": Decline("card_declined", "fraudulent", _DECLINED),
    "4000000000000069": Decline("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": Decline("incorrect_cvc", "incorrect_cvc",
                                "Your card's security code is incorrect."),
    "4000000000000119": Decline("processing_error", "processing_error",
                                "An error occurred while processing your card. Try again in a "
                                "little bit."),
}
# Stripe's test payment method ids for those cards. Stripe names some with ``pm_card_visa_``
# and some with ``pm_card_``; both spellings are accepted for each.
_DECLINE_SUFFIXES = {
    "": "4000000000000002",
    "InsufficientFunds": "4000000000009995",
    "LostCard": "4000000000009987",
    "StolenCard": "4000000000009979",
    "VelocityLimitExceeded": "4000000000006975",
    "Fraudulent": "4100000000000019",
    "ExpiredCard": "4000000000000069",
    "IncorrectCvc": "4000000000000127",
    "ProcessingError": "4000000000000119",
}
DECLINING_PAYMENT_METHODS: dict[str, str] = {
    f"{prefix}_chargeDeclined{suffix}": number
    for suffix, number in _DECLINE_SUFFIXES.items()
    for prefix in ("pm_card", "pm_card_visa")
}


def _disable_disk_state() -> None:
    """Make localstripe's ``Store`` keep everything in memory.

    ``Store.dump_to_disk`` is called from ``Store.__setitem__``/``__delitem__`` and from the
    app's ``save_store_middleware`` after every POST, PUT and DELETE; all three look it up on
    the instance, so replacing it on the class covers them.
    """
    from localstripe import resources

    def no_dump(self: object) -> None:
        return None

    def no_load(self: object) -> None:
        return None

    resources.Store.dump_to_disk = no_dump  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = no_load  # type: ignore[method-assign]


def _decline_test_cards() -> None:
    """Teach localstripe Stripe's decline test payment methods and codes.

    localstripe turns a few ``pm_card_*`` ids into cards
    (``PaymentMethod._try_get_canonical_test_article``) and declines a charge when
    ``_charging_is_declined`` says so, always as ``card_declined``. Here those ids map to
    Stripe's card numbers, those numbers decline, and the failed charge carries Stripe's
    ``code``, ``decline_code`` and message: in the 402 error of a confirmation and in the
    PaymentIntent's ``last_payment_error`` (which the failure webhook carries).
    """
    from localstripe import resources
    from localstripe.errors import UserError

    payment_method = resources.PaymentMethod
    charge = resources.Charge
    intent = resources.PaymentIntent
    canonical = payment_method._try_get_canonical_test_article.__func__
    charging_is_declined = payment_method._charging_is_declined
    set_auth_failure = charge._set_auth_failure
    last_payment_error = intent.last_payment_error.fget

    def test_article(cls: type, id: str) -> Any:  # noqa: A002 - localstripe's name
        number = DECLINING_PAYMENT_METHODS.get(id)
        if number is None:
            return canonical(cls, id)
        return cls(type="card", card={"number": number, "exp_month": "12",
                                      "exp_year": "2030", "cvc": "123"})

    def declines(self: Any) -> bool:
        number = getattr(self, "_card_number", None)
        return number in DECLINED_CARDS or charging_is_declined(self)

    def decline_of(self: Any) -> Decline | None:
        """The decline a failed charge's card stands for, if it is one of Stripe's."""
        try:
            source = payment_method._api_retrieve(self.payment_method)
        except UserError:
            return None
        return DECLINED_CARDS.get(getattr(source, "_card_number", None) or "")

    def set_failure(self: Any) -> None:
        set_auth_failure(self)
        decline = decline_of(self)
        if decline is not None:
            self.failure_code, self.failure_message = decline.code, decline.message
            self._decline_code = decline.decline_code

    def raise_failure(self: Any) -> None:
        error = {"code": self.failure_code, "charge": self.id}
        if getattr(self, "_decline_code", None):
            error["decline_code"] = self._decline_code
        refusal = UserError(402, self.failure_message, error)
        refusal.body["error"]["type"] = "card_error"  # Stripe's type for a declined card
        raise refusal

    def payment_error(self: Any) -> dict | None:
        error = last_payment_error(self)
        decline_code = getattr(self.latest_charge, "_decline_code", None)
        if error and decline_code and "charge" in error:
            error = {**error, "decline_code": decline_code}
        return error

    payment_method._try_get_canonical_test_article = classmethod(test_article)
    payment_method._charging_is_declined = declines
    charge._set_auth_failure = set_failure
    charge._raise_failure = raise_failure
    intent.last_payment_error = property(payment_error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.localstripe_server",
        description="Serve localstripe on one address, in memory only.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8420, help="TCP port (default 8420)")
    args = parser.parse_args(argv)

    _disable_disk_state()  # before the app serves (or even imports) anything
    _decline_test_cards()

    from aiohttp import web
    from localstripe import __version__
    from localstripe.server import app

    # localstripe reports webhook deliveries on the "aiohttp.access" logger, next to the
    # access log: both go to stdout (the stack's log file).
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    access_log = logging.getLogger("aiohttp.access")

    print(
        f"localstripe {__version__} on http://{args.host}:{args.port} (state in memory only)",
        flush=True,
    )
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=access_log,
        print=None,
        handle_signals=True,  # SIGINT and SIGTERM end run_app normally
        shutdown_timeout=2.0,  # do not wait long for idle keep-alive clients
    )
    print("localstripe stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
