"""The one schema of params.yaml: every section, its types, ranges and choices, and the cross-references.

One pydantic schema covers the whole of params.yaml: unknown keys are refused,
choices are Literals, ranges are Field constraints, numbers must be numbers
(a YAML string never passes for one), lists must be lists, and the names that
point elsewhere (data sets, evaluation sets, feature blocks, model families and
their parameters) are checked together in Config.check_references. Whatever
fails, ConfigError carries one sentence that starts with the field's path,
e.g. "crop.size: must be an integer, got 'big'".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from pipeline.errors import GenrecError
from pipeline.project import TaskFiles


class ConfigError(GenrecError, ValueError):
    """A missing or invalid configuration value."""


class FieldProblem(ValueError):
    """A validator's finding about one field, below the model that raised it ("filter.datasets")."""

    def __init__(self, field: str, sentence: str):
        super().__init__(f"{field}: {sentence}")
        self.field, self.sentence = field, sentence


def _as_given(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Check a choice against its Literal but keep YAML's own string object.

    pydantic returns the Literal's (interned) constant instead; pickle memoizes strings by
    identity, so that swap alone would change the bytes of the saved transformer and models.
    """
    handler(value)
    return value


AsGiven = WrapValidator(_as_given)

# YAML gives int, float, bool and str; none may stand in for another (60 may stand for 60.0).
Int = StrictInt
Float = StrictFloat
Bool = StrictBool
Str = StrictStr
Names = tuple[StrictStr, ...]
Fraction = Annotated[Float, Field(gt=0, le=1)]
Positive = Annotated[Float, Field(gt=0)]
DetectSide = Annotated[Int, Field(ge=16)]

READERS = (
    "utkface",
    "lfw",
    "celeba",
    "fairface",
    "image_folder",
    "imdb_wiki",
    "videos",
    "fakeavceleb",
    "mosaic_tiles",
)  # pipeline.data.datasets
BLOCKS = ("eigen", "hog", "lbp", "sift", "pca_sift")  # pipeline.gender.features
QUADRANT_WINDOWS = ("none", "hann")  # pipeline.fake.spectrum.quadrant_spectra
AUGMENT_KINDS = ("jpeg", "resize", "blur", "sharpen", "screenshot", "mosaic")  # pipeline.fake.processing.draw_step
# pipeline.fake.processing.NAMED: the steps the fake detector's held-out parts are scored under.
PROCESSING_STEPS = ("jpeg90", "jpeg75", "jpeg50", "half", "x1.5", "blur1", "x2", "x3", "mosaic255")
MODEL_FAMILIES = ("svm", "logistic_regression")  # pipeline.training.search.classifier
EVALUATION_SOURCES = ("utkface_heldout", "fairface_heldout", "utkface_swaps", "fakeavceleb")
FAKEAVCELEB_TYPES = ("RealVideo-RealAudio", "FakeVideo-FakeAudio", "RealVideo-FakeAudio", "FakeVideo-RealAudio")
# Declared pixels an image may have before it is decoded (filter-small-images and uploads alike).
MAX_PIXELS = 40_000_000
BALANCE = ("none", "gender", "ethnicity", "ethnicity_gender")
# Every source's race label -> genrec's group name (the data set readers map with it; evaluation.ethnicities
# names groups).
ETHNICITY = {
    "White": "Caucasian",
    "Black": "African",
    "Asian": "Asian (East)",
    "Indian": "Indian",
    "Others": "Others",
    "African": "African",
    "Asian (East)": "Asian (East)",
    "Asian (South)": "Asian (South)",
    "Caucasian (American)": "Caucasian",
    "Caucasian (European)": "Caucasian (European)",
    # FairFace's seven groups (the seed's three map onto its Black, East Asian and White).
    "East Asian": "Asian (East)",
    "Southeast Asian": "Southeast Asian",
    "Middle Eastern": "Middle Eastern",
    "Latino_Hispanic": "Latino Hispanic",
}


class Section(BaseModel):
    """A config section: frozen, unknown keys refused, no inf or nan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(Section):
    """Where one data set's archive comes from."""

    name: Str  # the key under `datasets`
    reader: Annotated[Literal[READERS], AsGiven]
    archive: Str
    sha256: Str
    url: Str | None = None
    homepage: Str | None = None
    root: Str = "."
    # Extra arguments for the reader (e.g. {label: fake} for an image folder).
    options: dict[Str, Any] = Field(default_factory=dict)

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise ValueError(f"must be a 64-character hex sha256 digest, got {value!r}")
        return value


class SubsetConfig(Section):
    """A seeded subset of every archive's images (the smoke experiment): `images` per archive at most.

    Which images: the `images` whose sha256 of "<seed>:<member name>" is smallest, so the choice depends on the
    names and the seed alone, never on the archive's order, and a larger subset holds every image of a smaller one.
    Every other member (label tables, name lists, videos) is extracted whole, except that a .csv table loses the
    rows whose first field names a left-out image.
    """

    images: Annotated[Int, Field(ge=1)]
    seed: Int = 0


class DownloadConfig(Section):
    mirror: Str | None = None
    timeout_s: Positive = 60
    retries: Annotated[Int, Field(ge=0)] = 3
    # null (the default, and not written in conf/download): every member of every archive.
    subset: SubsetConfig | None = None


class FilterConfig(Section):
    datasets: Annotated[Names, Field(min_length=1)]
    min_size: Annotated[Int, Field(ge=1)] = 60
    max_pixels: Annotated[Int, Field(ge=1)] = MAX_PIXELS
    test_size: Annotated[Float, Field(gt=0, lt=1)] = 0.2
    max_per_dataset: Annotated[Int, Field(ge=1)] | None = None


class CropConfig(Section):
    cascade: Str = "haarcascade_frontalface_default.xml"
    scale_factor: Annotated[Float, Field(gt=1)] = 1.1
    min_neighbors: Annotated[Int, Field(ge=0)] = 5
    min_face: Fraction = 0.15
    padding: Annotated[Float, Field(ge=0)] = 0.25
    detect_side: DetectSide | None = None
    # Search again on the histogram-equalized image when nothing is found (dark, low-contrast faces).
    equalize_fallback: Bool = False
    # Where the cascade finds nothing: dlib's CNN face detector (MMOD) on the colour image shrunk so its
    # longer side is fallback_side pixels (pipeline.faces.detection.mmod_faces); null: the cascade alone.
    fallback: Annotated[Literal["mmod"], AsGiven] | None = None
    # At most 256: the CNN's time grows with the pixels (0.17 s at 192 px), and a video's frames without a
    # cascade face each pay it within the web app's analysis budget (serve.max_analysis_s).
    fallback_side: Annotated[Int, Field(ge=64, le=256)] = 192
    # The gender model's input: the square of margin x the box's longer side, resized to size x size.
    margin: Annotated[Float, Field(ge=1, le=3)] = 1.0
    size: Annotated[Int, Field(ge=8)] = 100
    # Eye alignment: turn a face so its eyes (OpenCV's eye cascade) lie level, when both are found and
    # they tilt by at most max_tilt degrees; otherwise the box as it is.
    align: Bool = False
    max_tilt: Annotated[Float, Field(gt=0, le=45)] = 20.0
    sample_sheet: Annotated[Int, Field(ge=0)] = 16


class VideoConfig(Section):
    dataset: Str
    every_s: Positive = 1.0
    max_frames: Annotated[Int, Field(ge=1)] = 20


def _ordered_range(value: tuple) -> tuple:
    if value[0] > value[1]:
        raise ValueError(f"must be [low, high] with low <= high, got {list(value)}")
    return value


Quality = Annotated[Int, Field(ge=10, le=100)]
Scale = Annotated[Float, Field(ge=0.1, le=8)]
Sigma = Annotated[Float, Field(gt=0, le=5)]
Side = Annotated[Int, Field(ge=16, le=4096)]


class AugmentConfig(Section):
    """The random chain of everyday steps applied to a share of the fake detector's training rows, both
    classes alike (pipeline.fake.processing.random_chain); each value is drawn from its [low, high] range."""

    share: Annotated[Float, Field(ge=0, le=1)] = 0.5
    max_steps: Annotated[Int, Field(ge=1, le=3)] = 3
    kinds: Annotated[tuple[Annotated[Literal[AUGMENT_KINDS], AsGiven], ...], Field(min_length=1)] = AUGMENT_KINDS
    jpeg_quality: Annotated[tuple[Quality, Quality], AfterValidator(_ordered_range)] = (50, 95)
    resize: Annotated[tuple[Scale, Scale], AfterValidator(_ordered_range)] = (0.5, 2.0)
    blur_sigma: Annotated[tuple[Sigma, Sigma], AfterValidator(_ordered_range)] = (0.3, 1.5)
    sharpen: Annotated[tuple[Sigma, Sigma], AfterValidator(_ordered_range)] = (0.3, 1.0)
    screenshot: Annotated[tuple[Scale, Scale], AfterValidator(_ordered_range)] = (0.75, 1.33)
    # The longer side a mosaic shows a photo at (the mirror's text-to-image figures: 253-258 px).
    mosaic_side: Annotated[tuple[Side, Side], AfterValidator(_ordered_range)] = (253, 258)


class RobustnessConfig(Section):
    """The held-out parts, also scored under each named step (pipeline.fake.processing.NAMED), at most
    max_per_source seeded rows of each source per step."""

    steps: Annotated[tuple[Annotated[Literal[PROCESSING_STEPS], AsGiven], ...], Field(min_length=1)]
    max_per_source: Annotated[Int, Field(ge=1)] | None = 300


class VerdictConfig(Section):
    """How a face's score becomes one of three answers (pipeline.fake.verdict): the threshold that gives
    false_alarm_rate on every real source of the training rows' cross-validation, and the input range: a face
    whose high-frequency energy is below the range_quantile of the training rows' is outside what the model was
    validated on."""

    false_alarm_rate: Annotated[Float, Field(gt=0, lt=0.5)] = 0.01
    range_quantile: Annotated[Float, Field(ge=0, lt=0.5)] = 0.005


class SpectrumConfig(Section):
    """The fake detector's input and data. `input` patch is what is served: the side x side square at the
    largest Haar box's centre, at the image's own resolution; face is the square of face_scale x the box
    (kept inside the image) resized to side x side (INTER_AREA); image is the whole image (Durall et al.),
    resized to side x side unless side is null; crop is haar-crop's crop."""

    datasets: Annotated[Names, Field(min_length=1)]
    input: Annotated[Literal["patch", "face", "image", "crop"], AsGiven] = "patch"
    face_scale: Annotated[Float, Field(ge=1, le=4)] = 1.6
    side: Annotated[Int, Field(ge=16, le=1024)] | None = 96
    n_points: Annotated[Int, Field(ge=4)] = 80
    # The 2D log power spectrum folded onto one quadrant, its interior averaged over pool x pool cells, beside
    # the 1D profile (pipeline.fake.spectrum.quadrant_spectra); null: the seed's 1D profile alone.
    quadrant_pool: Annotated[Int, Field(ge=1, le=16)] | None = None
    # One quadrant per window, in order: none (the patch as it is) and/or hann (the patch tapered to zero at
    # its edges first, so the edges' discontinuity no longer leaks along the axes).
    quadrant_windows: Annotated[
        tuple[Annotated[Literal[QUADRANT_WINDOWS], AsGiven], ...], Field(min_length=1, max_length=2)
    ] = ("none",)
    max_per_class: Annotated[Int, Field(ge=1)] | None = None
    # Seeded sample per data set, so no single source decides what "real" means (null: all).
    max_per_source: Annotated[Int, Field(ge=1)] | None = None
    # Scored per held-out source; leave_one_out refits without each of these data sets.
    leave_one_out: Names = ()
    videos: VideoConfig | None = None
    # Frames of the real clips of `videos` join the real class as the source "videos", split by clip: a seeded
    # video_held_out share of each video source's real clips is held out (pipeline.fake.training_set).
    video_frames: Bool = False
    video_held_out: Annotated[Float, Field(gt=0, lt=1)] = 0.25
    # A random chain of everyday steps on a share of the training rows (null: none, the seed's recipe).
    augment: AugmentConfig | None = None
    # The held-out parts under each named step (null: as they are only).
    robustness: RobustnessConfig | None = None
    verdict: VerdictConfig = VerdictConfig()

    def training_videos(self) -> tuple[str, ...]:
        """The labelled video set whose real clips' frames join the training data (none without video_frames)."""
        return (self.videos.dataset,) if self.video_frames and self.videos else ()

    @model_validator(mode="after")
    def _video_frames_need_videos(self) -> SpectrumConfig:
        if self.video_frames and self.videos is None:
            raise FieldProblem("video_frames", "needs spectrum.videos, the labelled videos whose real clips join")
        if self.video_frames and self.input not in ("patch", "face"):
            # A frame's input is its largest face's (detector_input); images read as `image` or `crop` would
            # put two definitions of the input in one class.
            raise FieldProblem("video_frames", f"needs input patch or face, got input {self.input}")
        return self

    @model_validator(mode="after")
    def _processing_needs_a_face_input(self) -> SpectrumConfig:
        # The steps act on the image before the face's input is cut (pipeline.fake.training_set.processed_region).
        for name in ("augment", "robustness"):
            if getattr(self, name) is not None and self.input not in ("patch", "face"):
                raise FieldProblem(name, f"needs input patch or face, got input {self.input}")
        return self

    @model_validator(mode="after")
    def _quadrant_needs_a_square_input(self) -> SpectrumConfig:
        if self.quadrant_pool is not None and (self.input not in ("patch", "face") or self.side is None):
            raise FieldProblem(
                "quadrant_pool", f"needs input patch or face with a side, got input {self.input} side {self.side}"
            )
        if len(set(self.quadrant_windows)) != len(self.quadrant_windows):
            raise FieldProblem("quadrant_windows", f"names a window twice: {list(self.quadrant_windows)}")
        if self.quadrant_pool is not None and self.quadrant_pool > self.side // 2:
            raise FieldProblem(
                "quadrant_pool", f"must be at most side // 2 ({self.side // 2}), got {self.quadrant_pool}"
            )
        return self


class EigenConfig(Section):
    n_components: Annotated[Int, Field(ge=1)] = 50
    whiten: Bool = False
    standardize: Bool = False
    svd_solver: Annotated[Literal["auto", "full", "covariance_eigh", "arpack", "randomized"], AsGiven] = "randomized"
    # Components of the explained-variance curve (the paper's Figure 1).
    curve_components: Annotated[Int, Field(ge=1)] = 200


class HogConfig(Section):
    cell: Annotated[Int, Field(ge=2)] = 10
    block: Annotated[Int, Field(ge=1)] = 2
    bins: Annotated[Int, Field(ge=2)] = 9
    n_components: Annotated[Int, Field(ge=1)] | None = 200


class LbpConfig(Section):
    points: Annotated[Int, Field(ge=1)] = 8
    radius: Annotated[Int, Field(ge=1)] = 1
    grid: Annotated[Int, Field(ge=1)] = 5


class SiftConfig(Section):
    """Dense SIFT: grid x grid keypoints of `size` px on the face crop."""

    grid: Annotated[Int, Field(ge=1, le=16)] = 4
    size: Annotated[Float, Field(gt=1)] = 24.0
    # sift: PCA of the concatenated descriptors to this many whitened components (null: none).
    n_components: Annotated[Int, Field(ge=1)] | None = 200
    # pca_sift: components per keypoint of the PCA fitted on the training descriptors.
    pca_components: Annotated[Int, Field(ge=1, le=128)] = 20


class FeaturesConfig(Section):
    """The gender model's face features (extract-eigen): which blocks, and each block's settings."""

    blocks: Annotated[tuple[Annotated[Literal[BLOCKS], AsGiven], ...], Field(min_length=1)]
    eigen: EigenConfig = EigenConfig()
    hog: HogConfig = HogConfig()
    lbp: LbpConfig = LbpConfig()
    sift: SiftConfig = SiftConfig()


class GenderConfig(Section):
    """Which faces train, test and cross-check the gender model."""

    datasets: Annotated[Names, Field(min_length=1)]
    cross_datasets: Names = ()
    min_age: Annotated[Int, Field(ge=0)] | None = 18
    max_train: Annotated[Int, Field(ge=10)] | None = None
    balance: Annotated[Literal[BALANCE], AsGiven] = "none"
    # Seeded cap on each data set's training faces, so that one large source does not decide alone (null: all).
    max_train_per_source: Annotated[Int, Field(ge=1)] | None = None
    # Each is refitted without its training faces and scored on its held-out part (cross-source figures).
    leave_one_out: Names = ()
    # The model's answer for a face is the mean of its answers for the crop and for the crop's mirror image
    # (pipeline.gender.model.MirrorAveraged), in the served model and in every figure the stages report.
    mirror_average: Bool = False


def _grid(grid: Any) -> Any:
    """A candidate's grid: a mapping of parameter -> list of values, or a list of such mappings.

    The values are kept exactly as written (1 stays an int), so the CV tables rebuild to the same bytes.
    """
    grids = grid if isinstance(grid, list) else [grid]
    for one in grids:
        if not isinstance(one, dict) or not one:
            raise ValueError(
                f"must be a mapping of parameter lists such as {{C: [1, 10]}}, or a list of such mappings, got {grid!r}"
            )
        for name, values in one.items():
            if not isinstance(values, list) or not values:
                raise FieldProblem(
                    str(name), f"must be a non-empty list of values, got {values!r} (write [{values}] for one value)"
                )
    return grid


class Candidate(TypedDict):
    """One searched model: a family and its grid. A plain dict, as pipeline.training.search reads it."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    model: Annotated[Literal[MODEL_FAMILIES], AsGiven]
    grid: Annotated[Any, AfterValidator(_grid)]


class SearchConfig(Section):
    """One task's model search: named candidates, each a model family and its grid (or list of grids)."""

    candidates: Annotated[dict[Str, Candidate], Field(min_length=1)]
    cv_folds: Annotated[Int, Field(ge=2)] = 5
    calibration: Annotated[Literal["sigmoid", "isotonic"], AsGiven] = "sigmoid"
    # grid: every candidate on every fold; halving: successive halving (HalvingGridSearchCV); race: every
    # candidate on fold 1, then only those within race_z standard errors of the leader (pipeline.training.racing).
    strategy: Annotated[Literal["grid", "halving", "race"], AsGiven] = "grid"
    halving_factor: Annotated[Int, Field(ge=2)] = 3
    race_z: Annotated[Float, Field(gt=0, le=10)] = 3.0
    # Search on a stratified seeded subsample of this many training rows, then refit on all (null: all).
    search_sample: Annotated[Int, Field(ge=1)] | None = None
    # Standardize features before the classifier (the paper feeds raw eigenface coordinates).
    standardize: Bool = True
    # Also score the best model as Durall et al.'s script does: mean test accuracy over this many
    # seeded random 80/20 splits (0: not at all).
    repeated_splits: Annotated[Int, Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _enough_rows_per_fold(self) -> SearchConfig:
        if self.search_sample is not None and self.search_sample < 10 * self.cv_folds:
            raise FieldProblem(
                "search_sample",
                f"must be null or at least 10 rows per fold ({10 * self.cv_folds}), got {self.search_sample}",
            )
        return self


class ModelsConfig(Section):
    gender: SearchConfig | None = None
    fake: SearchConfig | None = None


class TableSource(Section):
    """The evaluation set behind one table: utkface_heldout, utkface_swaps or fakeavceleb (with its type)."""

    source: Annotated[Literal[EVALUATION_SOURCES], AsGiven]
    type: Annotated[Literal[FAKEAVCELEB_TYPES], AsGiven] | None = None

    @model_validator(mode="after")
    def _type_for_fakeavceleb_only(self) -> TableSource:
        if self.source == "fakeavceleb" and self.type is None:
            raise FieldProblem("type", f"fakeavceleb needs a type, one of {', '.join(FAKEAVCELEB_TYPES)}")
        if self.source != "fakeavceleb" and self.type is not None:
            raise FieldProblem("type", f"only fakeavceleb takes a type, got {self.type!r} for {self.source}")
        return self


class EvaluationConfig(Section):
    """evaluate-by-ethnicity: the sets behind Tables 1 and 2, and how they are sampled."""

    table1: TableSource
    table2: TableSource
    ethnicities: Annotated[Names, Field(min_length=1)]
    per_cell: Annotated[Int, Field(ge=1)] | None = 25
    # Folder holding FakeAVCeleb's meta_data.csv and its FakeAVCeleb_v1.2/ tree (relative: from the repo root).
    fakeavceleb_root: Str = "data/raw/fakeavceleb"
    # Labelled video data set scored per video (null: none).
    videos: Str | None = None
    every_s: Positive = 1.0
    max_frames: Annotated[Int, Field(ge=1)] = 20
    swap_sheet: Annotated[Int, Field(ge=0)] = 6


class ServeConfig(Section):
    """GEN_REC, the web app."""

    host: Str = "127.0.0.1"
    port: Annotated[Int, Field(ge=1, le=65535)] = 8000
    workers: Annotated[Int, Field(ge=1)] = 2
    max_upload_mb: Positive = 50
    every_s: Positive = 1.0
    max_frames: Annotated[Int, Field(ge=1)] = 20
    max_seconds: Positive = 60
    upload_dir: Str | None = None
    # What grid-search writes (pipeline.project), or an MLflow model URI such as models:/genrec-gender@champion.
    gender_model: Str = TaskFiles.of("gender").model.as_posix()
    fake_model: Str = TaskFiles.of("fake").model.as_posix()
    # Hostile uploads (issue 16): the budget of one analysis (wall-clock and CPU seconds, memory beyond
    # the worker's), the stated bound on a worker plus its analysis, the working size, the pixel caps,
    # the header timeout and the sweep period.
    max_analysis_s: Positive = 10.0
    max_analysis_mb: Annotated[Int, Field(ge=64)] = 768
    max_rss_mb: Annotated[Int, Field(ge=64)] = 1056
    working_side: Annotated[Int, Field(ge=64)] = 1024
    max_pixels: Annotated[Int, Field(ge=1)] = MAX_PIXELS
    max_frame_pixels: Annotated[Int, Field(ge=1)] = 8_912_896
    header_timeout_s: Annotated[Int, Field(ge=1)] = 5
    sweep_every_s: Positive = 60.0

    @model_validator(mode="after")
    def _room_for_the_worker(self) -> ServeConfig:
        if self.max_rss_mb <= self.max_analysis_mb:
            raise FieldProblem(
                "max_rss_mb",
                f"must be larger than max_analysis_mb ({self.max_analysis_mb}), "
                f"leaving room for the worker itself, got {self.max_rss_mb}",
            )
        return self


class ComputeConfig(Section):
    backend: Annotated[Literal["loky", "dask"], AsGiven] = "loky"
    # joblib's n_jobs: a number of workers, or negative to count back from all cores (-1: all).
    n_jobs: Int = -1
    scheduler_address: Str | None = None
    batch_size: Annotated[Int, Field(ge=1)] = 256

    @field_validator("n_jobs")
    @classmethod
    def _some_workers(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0: use a number of workers, or -1 for all cores")
        return value

    @model_validator(mode="after")
    def _dask_needs_a_scheduler(self) -> ComputeConfig:
        if self.backend == "dask" and not self.scheduler_address:
            raise FieldProblem(
                "scheduler_address", "compute.backend=dask needs a scheduler address such as tcp://127.0.0.1:8786"
            )
        return self


class Config(Section):
    """The whole of params.yaml."""

    seed: Annotated[Int, Field(ge=0)]
    experiment_name: Str = "default"
    datasets: dict[Str, Source] = Field(default_factory=dict)
    download: DownloadConfig = DownloadConfig()
    filter: FilterConfig
    crop: CropConfig = CropConfig()
    compute: ComputeConfig = ComputeConfig()
    spectrum: SpectrumConfig | None = None
    features: FeaturesConfig | None = None
    gender: GenderConfig | None = None
    models: ModelsConfig = ModelsConfig()
    evaluation: EvaluationConfig | None = None
    serve: ServeConfig | None = None
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_the_sources(cls, values: Any) -> Any:
        """Each data set's name is its key under `datasets`."""
        if isinstance(values, dict) and isinstance(values.get("datasets"), dict):
            named = {
                key: {**source, "name": key} if isinstance(source, dict) else source
                for key, source in values["datasets"].items()
            }
            values = {**values, "datasets": named}
        return values

    @model_validator(mode="after")
    def check_references(self) -> Config:
        """Every name that points elsewhere names something that exists."""
        defined = sorted(self.datasets)
        named = [("filter.datasets", self.filter.datasets)]
        if self.spectrum:
            named.append(("spectrum.datasets", self.spectrum.datasets))
            if self.spectrum.videos:
                named.append(("spectrum.videos.dataset", (self.spectrum.videos.dataset,)))
        if self.gender:
            named += [("gender.datasets", self.gender.datasets), ("gender.cross_datasets", self.gender.cross_datasets)]
        if self.evaluation and self.evaluation.videos is not None:
            named.append(("evaluation.videos", (self.evaluation.videos,)))
        for field, names in named:
            for name in names:
                if name not in self.datasets:
                    raise FieldProblem(
                        field,
                        f"names the data set {name!r}, which datasets does not define "
                        f"(defined: {', '.join(defined) or 'none'})",
                    )
        for field, names, within in (
            ("gender.leave_one_out", self.gender.leave_one_out if self.gender else (), "gender.datasets"),
            (
                "spectrum.leave_one_out",
                self.spectrum.leave_one_out if self.spectrum else (),
                "spectrum.datasets (or the labelled videos of video_frames)",
            ),
        ):
            task = self.gender if field.startswith("gender") else self.spectrum
            if task is None:
                continue
            sources = set(task.datasets) | set(self.spectrum.training_videos() if task is self.spectrum else ())
            for name in names:
                if name not in sources:
                    raise FieldProblem(field, f"names {name!r}, which {within} does not hold")
        if self.evaluation:
            known = sorted(set(ETHNICITY.values()))
            for group in self.evaluation.ethnicities:
                if group not in known:
                    raise FieldProblem(
                        "evaluation.ethnicities",
                        f"{group!r} is not an ethnic group the data set readers produce ({', '.join(known)})",
                    )
        if self.features:
            self._check_blocks(self.features)
        for task, search in (("gender", self.models.gender), ("fake", self.models.fake)):
            for name, candidate in search.candidates.items() if search else ():
                self._check_grid(f"models.{task}.candidates.{name}.grid", candidate)
        return self

    def _check_blocks(self, features: FeaturesConfig) -> None:
        if len(set(features.blocks)) < len(features.blocks):
            raise FieldProblem("features.blocks", f"names a block twice: {list(features.blocks)}")
        hog, size = features.hog, self.crop.size
        window = hog.cell * hog.block
        if "hog" in features.blocks and (window > size or (size - window) % hog.cell):
            raise FieldProblem(
                "features.hog",
                f"blocks of {hog.block}x{hog.block} cells of {hog.cell} px do not tile the {size} px crop (crop.size)",
            )
        if "lbp" in features.blocks and features.lbp.grid > size:
            raise FieldProblem("features.lbp.grid", f"must be at most crop.size ({size}), got {features.lbp.grid}")

    @staticmethod
    def _check_grid(where: str, candidate: dict) -> None:
        accepted = _family_parameters(candidate["model"])
        grids = candidate["grid"] if isinstance(candidate["grid"], list) else [candidate["grid"]]
        for grid in grids:
            for name in grid:
                if name not in accepted:
                    raise FieldProblem(
                        f"{where}.{name}",
                        f"is not a parameter of {candidate['model']} (it takes {', '.join(sorted(accepted))})",
                    )

    # The rest of the code reads these names.
    @property
    def raw(self) -> dict[str, Any]:
        """The params as read, before validation."""
        return self._raw

    @property
    def fake_search(self) -> SearchConfig | None:
        return self.models.fake

    @property
    def gender_search(self) -> SearchConfig | None:
        return self.models.gender

    def section(self, name: str) -> dict[str, Any]:
        """The raw params of one top-level section."""
        return self._raw.get(name, {})

    def section_dump(self, name: str) -> Any:
        """One top-level section as validated (defaults filled in), for logging."""
        return self.model_dump(mode="json", include={name}).get(name)


def _family_parameters(family: str) -> set[str]:
    """The parameters a model family's estimator accepts (pipeline.training.search.classifier builds it)."""
    if family == "svm":
        from sklearn.svm import SVC

        return set(SVC().get_params())
    from sklearn.linear_model import LogisticRegression

    return set(LogisticRegression().get_params())
