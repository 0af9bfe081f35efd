"""The ``duban`` command line: thin commands over functions that return data."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import Abort

from bots.errors import BotError
from classifier.errors import ClassifierError
from duban.cli import bot as bot_cmd
from duban.cli import calendar as calendar_cmd
from duban.cli import checkins as checkins_cmd
from duban.cli import db as db_cmd
from duban.cli import demo as demo_cmd
from duban.cli import directory as directory_cmd
from duban.cli import intake as intake_cmd
from duban.cli import jobs as jobs_cmd
from duban.cli import model as model_cmd
from duban.cli import office as office_cmd
from duban.cli import report as report_cmd
from duban.cli import review as review_cmd
from duban.cli import tasks as tasks_cmd
from duban.cli import tickets as tickets_cmd
from duban.cli import web as web_cmd
from duban.cli import zh
from duban.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE
from intake.errors import IntakeError
from ledger.errors import LedgerError
from routing.errors import RoutingError

logger = logging.getLogger(__name__)


class DubanGroup(TyperGroup):
    """Maps every package's errors to a message on stderr and the exit code it carries;
    usage errors (unknown option, missing argument, bad value) are told in Chinese."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        standalone = standalone_mode
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except NoArgsIsHelpError as exc:
            if not standalone:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            if not standalone:
                raise
            ctx = exc.ctx
            typer.echo(
                zh.usage_error(
                    ctx.get_usage() if ctx is not None else None,
                    ctx.command_path if ctx is not None else None,
                    exc.format_message(),
                ),
                err=True,
            )
            sys.exit(exc.exit_code)
        except ClickException as exc:
            if not standalone:
                raise
            typer.echo("错误：" + zh.usage_message(exc.format_message()), err=True)
            sys.exit(exc.exit_code)
        except Abort:
            if not standalone:
                raise
            typer.echo("已中止。", err=True)
            sys.exit(EXIT_FAILURE)
        if not standalone:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx):
        known = _known_errors()
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            problems = "; ".join(
                f"DUBAN_{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            typer.echo(f"错误: 配置有误 (bad settings): {problems}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except known as exc:
            typer.echo(f"错误: {exc}", err=True)
            raise typer.Exit(getattr(exc, "exit_code", EXIT_FAILURE)) from None
        except OperationalError as exc:  # the database cannot be reached or is locked
            typer.echo(f"错误: 数据库不可用 (database unavailable): {exc.orig}", err=True)
            raise typer.Exit(EXIT_FAILURE) from None
        except OverflowError as exc:  # a number or date typed far outside any real range
            typer.echo(f"错误: 输入的数值或日期超出范围 (out of range: {exc})", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (typer.Exit, SystemExit, KeyboardInterrupt, ClickException, Abort):
            raise
        except Exception as exc:
            # The last resort: a defect, told in one line; the traceback goes to the log
            # (DUBAN_LOG_LEVEL=DEBUG shows it), never as the whole answer to the user.
            logger.debug("unexpected error in %s", ctx.command_path, exc_info=True)
            typer.echo(
                f"错误: 程序内部错误 ({type(exc).__name__})，请把命令和输入文件报告给管理员；"
                f"设 DUBAN_LOG_LEVEL=DEBUG 可看到详情 (internal error)",
                err=True,
            )
            raise typer.Exit(EXIT_FAILURE) from None


app = typer.Typer(
    cls=DubanGroup,
    name="duban",
    help="督办 duban — 督查督办台账：留言登记、分办、时限、催办、统计 (supervision desk).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

db_cmd.register(app)
calendar_cmd.register(app)
directory_cmd.register(app)
tickets_cmd.register(app)
tasks_cmd.register(app)
checkins_cmd.register(app)
intake_cmd.register(app)
jobs_cmd.register(app)
demo_cmd.register(app)
report_cmd.register(app)
review_cmd.register(app)
bot_cmd.register(app)
model_cmd.register(app)
office_cmd.register(app)
web_cmd.register(app)


def _known_errors() -> tuple[type[BaseException], ...]:
    """Each package's base error carries its exit code (1 failure, 2 bad input)."""
    return (LedgerError, ClassifierError, IntakeError, RoutingError, BotError)


def main() -> None:
    from duban.logs import configure_logging  # every handler redacts tokens and passwords

    configure_logging(os.environ.get("DUBAN_LOG_LEVEL", "WARNING"))
    zh.install()  # click's own messages (usage errors, help headings) in Chinese
    app()
