"""A registered riskwarn model as a Spark UDF (``mlflow.pyfunc.spark_udf``).

The UDF runs the pyfunc of :mod:`riskwarn.tracking.pyfunc_model` on batches of
feature rows on Spark's executors, in their own Python (``env_manager="local"``:
riskwarn and its pinned dependencies must be installed where the executors run).
The UDF loads the very files :func:`load_registered` downloaded and checked (its
``keep_in`` folder), not a second download of the version.
"""

from __future__ import annotations

from riskwarn.config import quantile_column
from riskwarn.errors import RiskwarnError
from riskwarn.models.horizons import curve_columns
from riskwarn.tracking.registry import RegisteredModel

#: The score columns the UDF returns, besides the reason columns.
SCORE_FIELDS = (
    ("grid_id", "string"),
    ("score", "double"),
    ("expected_events", "double"),
    ("periods_since_intervention", "double"),
)


def scorer_result_type(n_reasons: int, quantiles=(), horizon: int = 1) -> str:
    """The UDF's result as a Spark DDL struct: scores, quantiles, curve, reasons and texts.

    ``quantiles`` are the scorer's levels (``events_q{NN}`` columns), ``horizon`` its
    label horizon (``risk_h1 .. risk_h{horizon}``).
    """
    fields = [f"{name} {kind}" for name, kind in SCORE_FIELDS]
    fields += [f"{quantile_column(q)} double" for q in quantiles]
    fields += [f"{c} double" for c in curve_columns(horizon)]
    for i in range(1, n_reasons + 1):
        fields += [
            f"reason_{i}_feature string",
            f"reason_{i}_value double",
            f"reason_{i}_contribution double",
            f"reason_{i}_usual double",
            f"reason_{i}_about string",
            f"reason_{i}_about_value double",
        ]
    fields += ["reasons_en string", "reasons_zh string"]
    return "struct<" + ", ".join(fields) + ">"


def spark_scorer_udf(spark, model: RegisteredModel):
    """A pandas UDF that scores feature rows with ``model``'s pinned version.

    Call it on a struct of the feature frame's columns (``grid_id``, ``as_of``
    naive local time, the features); it returns :func:`scorer_result_type`.
    """
    import mlflow

    if model.folder is None:
        raise RiskwarnError(
            "the Spark UDF loads the model's checked files: load it with "
            "load_registered(..., keep_in=FOLDER)."
        )
    # The files load_registered checked, not a second download of the version.
    return mlflow.pyfunc.spark_udf(
        spark,
        str(model.folder),
        result_type=scorer_result_type(
            int(model.bundle.scorer.n_reasons),
            tuple(model.bundle.scorer.quantiles),
            int(model.bundle.scorer.horizon),
        ),
        env_manager="local",
    )


def score_on_spark(features, model: RegisteredModel):
    """Score a Spark frame of feature rows: ``as_of`` plus the UDF's columns, computed once.

    A missing reason (fewer positive contributions than reasons) comes back from
    the UDF's string conversion as the text "nan"; it is made null again here, from
    its contribution, which is NaN exactly when there is no reason.

    Each row is scored from itself alone (the graph models read the neighbour
    aggregates the feature builder put in the row), so Spark may split the rows
    into batches and executors as it likes.
    """
    from pyspark.sql import functions as F

    n = int(model.bundle.scorer.n_reasons)
    spark = features.sparkSession
    udf = spark_scorer_udf(spark, model)
    result = udf(F.struct(*[F.col(c) for c in features.columns]))
    scored = features.select("as_of", result.alias("r")).select("as_of", "r.*")
    for i in range(1, n + 1):
        feature, contribution = f"reason_{i}_feature", F.col(f"reason_{i}_contribution")
        missing = contribution.isNull() | F.isnan(contribution)
        scored = scored.withColumn(
            feature, F.when(missing, F.lit(None).cast("string")).otherwise(F.col(feature))
        )
    return scored.localCheckpoint(eager=True)
