"""The 19 FLARE 2025 Task 5 data sets as the synthetic generator writes them.

Each data set names its category folder, its ``Modality`` spelling, the tasks asked about every
image (with the ``TaskType`` spelling its files use), whether its content is drawn in colour, and
the (file format, Pillow mode) pairs its images come in. Labels and question wording imitate the
real files; the answers are determined by what is drawn (see ``scenes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from medvlm.records import TaskType


@dataclass(frozen=True)
class Classification:
    """One option per class; the class is the shape (or colour) of the object drawn."""

    task: ClassVar[str] = TaskType.CLASSIFICATION
    prompt: str
    labels: tuple[str, ...]
    style: str = (
        "colon"  # "colon": "Options: A: x B: y"; "dot": "A. x, B. y"; "text": label answers
    )
    by: str = "shape"  # the visual property that carries the class: "shape" or "colour"


@dataclass(frozen=True)
class MultiLabel:
    """Label ``i`` is present when a mark sits in slot ``i`` of the top strip."""

    task: ClassVar[str] = TaskType.MULTI_LABEL
    prompt: str
    labels: tuple[str, ...]
    separator: str


@dataclass(frozen=True)
class Detection:
    """Pure-white rectangles; the answer boxes are their exact pixel extent."""

    task: ClassVar[str] = TaskType.DETECTION
    target: str
    max_boxes: int = 1


@dataclass(frozen=True)
class InstanceDetection:
    """Coloured rectangles; the colour is the instance id (``INSTANCE_RGB[id - 1]``)."""

    task: ClassVar[str] = TaskType.INSTANCE_DETECTION
    prompt: str
    max_ids: int


@dataclass(frozen=True)
class Counting:
    """The number of blobs, or of instance objects when the image also has instance detection."""

    task: ClassVar[str] = TaskType.COUNTING
    prompt: str


@dataclass(frozen=True)
class Regression:
    """A bar filled to fraction ``f``; the answer is ``low + (high - low) * f``."""

    task: ClassVar[str] = TaskType.REGRESSION
    prompt: str
    low: float
    high: float
    decimals: int
    suffix: str = ""


@dataclass(frozen=True)
class Report:
    """A chest film whose findings (heart size, opacity, effusion) are drawn marks."""

    task: ClassVar[str] = TaskType.REPORT_GENERATION
    prompt: str


TaskParams = (
    Classification | MultiLabel | Detection | InstanceDetection | Counting | Regression | Report
)


@dataclass(frozen=True)
class TaskSpec:
    spelling: str  # TaskType as written in the training file
    params: TaskParams
    val_spelling: str | None = None  # a different spelling in the validation file (2026 names)

    def spelling_for(self, split: str) -> str:
        return self.val_spelling if split == "val" and self.val_spelling else self.spelling


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    category: str
    modality: str
    tasks: tuple[TaskSpec, ...]
    colour: bool  # content drawn in colour (else gray, stored in whatever mode the look says)
    looks: tuple[tuple[str, str], ...]  # (format "png"/"jpeg", Pillow mode) an image may take
    views: int = 1  # images per question (neojaundice: 3 views of one newborn)

    @property
    def task_types(self) -> tuple[str, ...]:
        return tuple(spec.params.task for spec in self.tasks)


def _cls(prompt, labels, style="colon", by="shape") -> Classification:
    return Classification(prompt, tuple(labels), style, by)


PNG_L, PNG_16, PNG_RGB, PNG_RGBA = ("png", "L"), ("png", "I;16"), ("png", "RGB"), ("png", "RGBA")
JPG_L, JPG_RGB = ("jpeg", "L"), ("jpeg", "RGB")

BREAST_US = ("Benign", "Malignant", "Normal")
CHEST_FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Fracture",
)
PERIAPICAL_FINDINGS = (
    "Periapical Lesion",
    "Caries",
    "Endodontic Treatment, Restorative Treatment, and Complications",
    "Bone Loss",
    "Impacted Tooth",
)
BONE_MARROW = (
    "Normal bone marrow",
    "Myelofibrosis",
    "Acute myeloid leukemia",
    "Acute lymphoblastic leukemia",
    "Chronic myeloid leukemia",
    "Chronic lymphocytic leukemia",
    "Multiple myeloma",
    "Myelodysplastic syndrome",
    "Lymphoma infiltration",
    "Aplastic anemia",
    "Metastatic carcinoma",
)
ENDOSCOPY = (
    "Normal cecum",
    "Normal pylorus",
    "Normal Z-line",
    "Esophagitis",
    "Polyp",
    "Ulcerative colitis",
    "Dyed lifted polyp",
    "Dyed resection margin",
    "Barrett's esophagus",
    "Hemorrhoids",
    "Terminal ileum",
    "Retroflex rectum",
    "Retroflex stomach",
    "Poor bowel preparation",
    "Good bowel preparation",
    "Impacted stool",
    "Short-segment Barrett's",
    "Gastric ulcer",
    "Angiectasia",
    "Foreign body",
)
SKIN = (
    "Nevus",
    "Melanoma",
    "Basal cell carcinoma",
    "Actinic keratosis",
    "Benign keratosis",
    "Dermatofibroma",
    "Vascular lesion",
    "Squamous cell carcinoma",
)
RETINOPATHY = (
    "No diabetic retinopathy",
    "Mild non-proliferative diabetic retinopathy",
    "Moderate non-proliferative diabetic retinopathy",
    "Severe non-proliferative diabetic retinopathy",
    "Proliferative diabetic retinopathy",
)

DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "retino",
        "Retinography",
        "Retinography",
        (
            TaskSpec(
                "Classification",
                _cls("What is the diabetic retinopathy grade of this fundus image?", RETINOPATHY),
                val_spelling="disease_diagnosis_classification",
            ),
        ),
        colour=True,
        looks=(JPG_RGB,),
    ),
    DatasetSpec(
        "fundus",
        "Retinography",
        "fundus",
        (
            TaskSpec(
                "classification",
                _cls(
                    "What condition does this fundus photograph show?",
                    ("Normal", "Glaucoma", "Cataract", "Age-related macular degeneration"),
                    style="dot",
                ),
            ),
        ),
        colour=True,
        looks=(JPG_RGB, PNG_RGB),
    ),
    DatasetSpec(
        "BUSI-det",
        "Ultrasound",
        "Ultrasound",
        (TaskSpec("detection", Detection("breast tumor", max_boxes=2)),),
        colour=False,
        looks=(PNG_RGB, PNG_L),
    ),
    DatasetSpec(
        "BUS-UCLM-det",
        "Ultrasound",
        "ultrasound",
        (TaskSpec("Detection", Detection("breast lesion", max_boxes=2)),),
        colour=False,
        looks=(PNG_RGB,),
    ),
    DatasetSpec(
        "BUSI",
        "Ultrasound",
        "Ultrasound",
        (
            TaskSpec(
                "Classification",
                _cls("What type of breast tissue does this ultrasound show?", BREAST_US, "dot"),
            ),
        ),
        colour=False,
        looks=(PNG_RGB, PNG_L),
    ),
    DatasetSpec(
        "BUS-UCLM",
        "Ultrasound",
        "ultrasound",
        (
            TaskSpec(
                "classification",
                _cls("Classify the breast lesion in this ultrasound image.", BREAST_US),
            ),
        ),
        colour=False,
        looks=(PNG_RGB,),
    ),
    DatasetSpec(
        "iugc",
        "Ultrasound",
        "US",
        (
            TaskSpec(
                "Classification",
                _cls(
                    "Is this intrapartum ultrasound frame a standard plane?",
                    ("Standard plane", "Non-standard plane"),
                    style="dot",
                ),
            ),
            TaskSpec("Detection", Detection("fetal head")),
            TaskSpec(
                "regression",
                Regression(
                    "What is the angle of progression (in degrees) in this image?", 60, 180, 1
                ),
            ),
        ),
        colour=False,
        looks=(PNG_L,),
    ),
    DatasetSpec(
        "boneresorption",
        "Xray",
        "X-ray",
        (
            TaskSpec(
                "Classification",
                _cls(
                    "What is the severity of alveolar bone resorption in this orthopantomogram?",
                    ("Mild", "Moderate", "Severe"),
                ),
            ),
            TaskSpec(
                "regression",
                Regression(
                    "What percentage of bone resorption does this orthopantomogram show?",
                    0,
                    100,
                    2,
                    "%",
                ),
            ),
        ),
        colour=False,
        looks=(JPG_L, PNG_16),
    ),
    DatasetSpec(
        "dental",
        "Xray",
        "Xray",
        (
            TaskSpec(
                "classification",
                _cls(
                    "Which dental condition is visible in this radiograph?",
                    ("Caries", "Deep caries", "Impacted tooth", "Periapical lesion"),
                ),
                val_spelling="disease_diagnosis_classification",
            ),
        ),
        colour=False,
        looks=(JPG_L, PNG_L),
    ),
    DatasetSpec(
        "periapical",
        "Xray",
        "X-Ray",
        (
            TaskSpec(
                "Classification",
                _cls(
                    "Does this periapical radiograph need treatment?",
                    ("No Treatment", "Treatment Required"),
                    style="dot",
                ),
            ),
            TaskSpec(
                "Multi-label Classification",
                MultiLabel(
                    "Which findings are present in this periapical radiograph? "
                    "Select all that apply from:",
                    PERIAPICAL_FINDINGS,
                    "; ",
                ),
            ),
        ),
        colour=False,
        looks=(PNG_L, PNG_16),
    ),
    DatasetSpec(
        "IU_XRay",
        "Xray",
        "X-ray",
        (
            TaskSpec(
                "Report_Generation",
                Report(
                    "Describe the findings of this chest X-ray, including heart size, lungs and "
                    "pleural spaces."
                ),
            ),
        ),
        colour=False,
        looks=(PNG_L,),
    ),
    DatasetSpec(
        "chestdr",
        "Xray",
        "xray",
        (
            TaskSpec(
                "classification",
                _cls("Is this chest radiograph normal or abnormal?", ("Normal", "Abnormal")),
            ),
            TaskSpec(
                "Multi-label Classification",
                MultiLabel(
                    "Which diseases are present in this chest radiograph? "
                    "Select all that apply from:",
                    CHEST_FINDINGS,
                    ", ",
                ),
            ),
        ),
        colour=False,
        looks=(PNG_16, JPG_L),
    ),
    DatasetSpec(
        "neojaundice",
        "Clinical",
        "Clinical",
        (
            TaskSpec(
                "Classification",
                _cls(
                    "Based on these three photographs of the newborn, is jaundice treatment "
                    "needed?",
                    ("No Treatment", "Treatment Required"),
                    style="dot",
                    by="colour",
                ),
            ),
        ),
        colour=True,
        looks=(JPG_RGB,),
        views=3,
    ),
    DatasetSpec(
        "chromosome",
        "Microscopy",
        "microscopy",
        (
            TaskSpec(
                "instance_detection",
                InstanceDetection(
                    "Locate every chromosome in this karyotype image and give the bounding boxes "
                    "of each, keyed by chromosome number.",
                    max_ids=8,
                ),
            ),
            TaskSpec("Counting", Counting("How many chromosomes are visible in this image?")),
        ),
        colour=True,
        looks=(PNG_RGB, PNG_RGBA),
    ),
    DatasetSpec(
        "neurips22cell",
        "Microscopy",
        "Microscopy",
        (
            TaskSpec(
                "Counting",
                Counting("What is the cell count in this microscopy image?"),
                val_spelling="cell_counting",
            ),
        ),
        colour=True,
        looks=(PNG_RGB, PNG_RGBA, PNG_L),
    ),
    DatasetSpec(
        "bone_marrow",
        "Microscopy",
        "microscopy",
        (
            TaskSpec(
                "Classification",
                _cls("What is the diagnosis shown in this bone marrow smear?", BONE_MARROW),
            ),
        ),
        colour=True,
        looks=(JPG_RGB,),
    ),
    DatasetSpec(
        "endo",
        "Endoscopy",
        "Endoscopy",
        (
            TaskSpec(
                "classification",
                _cls("What finding does this endoscopy image show?", ENDOSCOPY, style="dot"),
            ),
        ),
        colour=True,
        looks=(JPG_RGB, PNG_RGBA),
    ),
    DatasetSpec(
        "bcn20000",
        "Dermatology",
        "Dermoscopy",
        (
            TaskSpec(
                "Classification",
                _cls("What is the diagnosis of this skin lesion?", SKIN),
            ),
        ),
        colour=True,
        looks=(JPG_RGB,),
    ),
    DatasetSpec(
        "CMMD",
        "Mammography",
        "Mammography",
        (
            TaskSpec(
                "classification",
                _cls(
                    "Is the lesion in this mammogram benign or malignant?",
                    ("Benign", "Malignant"),
                    style="text",
                ),
            ),
        ),
        colour=False,
        looks=(PNG_16, JPG_L),
    ),
)

DATASETS_BY_NAME = {spec.name: spec for spec in DATASETS}
