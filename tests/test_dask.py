"""catclf.dask on a LocalCluster of two worker processes: training gives the model
catclf.train gives on the same images, with the images on the workers and never at the
client; prediction gives the numbers catclf predict gives, with its per-file errors; and a
worker that dies ends the run with one clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

pytest.importorskip("distributed", reason="dask is not installed: pip install 'catclf[dask]'")

import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
from course import COSTS  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from helpers import PACKAGE_DATA, SAMPLES, save_png  # noqa: E402

import catclf  # noqa: E402
import catclf.dask  # noqa: E402
from catclf.cli.inputs import scoring  # noqa: E402
from catclf.errors import ClusterError  # noqa: E402

GENERATED = 20_000
PER_CHUNK = 1_000
# Small enough steps that the cost of these images of noise comes down.
GENERATED_RATE = 0.001
GENERATED_ITERATIONS = 4
# What a worker sends the client (through the scheduler) in a run: sums of 12288 numbers,
# 98 KB; a chunk of the images is 12 MB, one image 12 KB.
SUMS = {"_count", "_pass", "_add"}
LARGEST_SENT = 150_000  # a sum: 12288 float64, 98,304 bytes, and a few numbers


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def two_workers(client):
    client.wait_for_workers(2, timeout=60)  # a test may have killed one; its nanny restarts it
    return client


def generated_block(block_id=None):
    """Images of noise, (PER_CHUNK, 64, 64, 3) uint8, the same for a block wherever it is
    made."""
    rng = np.random.default_rng([7, block_id[0]])
    return rng.integers(0, 256, size=(PER_CHUNK, 64, 64, 3), dtype=np.uint8)


def redder_than_blue(images):
    """1 where the red channel is brighter than the blue one on average: a class that a
    linear model of the pixels can learn."""
    red = images[..., 0].mean(axis=(1, 2))
    blue = images[..., 2].mean(axis=(1, 2))
    return (red > blue).astype(np.int64)


def costs_of_each_iteration():
    """A Progress that keeps the cost of every training iteration, and that list."""
    costs = []

    def progress(task, total, *, unit=""):
        return lambda done=1, *, cost=None: cost is not None and costs.append(cost)

    return progress, costs


def sent_to_the_client(client):
    """(key, bytes) of every result the workers have sent out but to each other (to the
    scheduler, for the client), and clears the workers' record of what they sent."""
    workers = list(client.scheduler_info()["workers"])

    def sent(workers, dask_worker=None):
        found = [
            (str(key), size)
            for entry in dask_worker.transfer_outgoing_log
            if entry["who"] not in workers
            for key, size in entry["keys"].items()
        ]
        dask_worker.transfer_outgoing_log.clear()
        return found

    return [item for items in client.run(sent, workers).values() for item in items]


def task_name(key):
    return (key if isinstance(key, str) else key[0]).rsplit("-", 5)[0]


# Training


@pytest.fixture(scope="module")
def course_runs(client):
    """The course's first 200 iterations, on the cluster from the bundled HDF5 file, and
    in memory with catclf.train."""
    client.wait_for_workers(2, timeout=60)
    with h5py.File(PACKAGE_DATA / "train_catvnoncat.h5") as f:
        images = da.from_array(f["train_set_x"], chunks=(30, 64, 64, 3))
        labels = da.from_array(f["train_set_y"], chunks=30)
        with get_task_stream(client) as stream:
            on_cluster = catclf.dask.train(images, labels, num_iterations=200, client=client)
    train_set, _ = catclf.load_data()
    return on_cluster, catclf.train(train_set, num_iterations=200), stream.data


def test_the_course_set_on_the_cluster_gives_the_model_of_catclf_train(course_runs):
    on_cluster, in_memory, _ = course_runs
    assert on_cluster.costs == pytest.approx(COSTS[:2], abs=5e-7)  # the course's figures
    assert on_cluster.costs == pytest.approx(in_memory.costs, rel=1e-9)
    assert on_cluster.final_cost == pytest.approx(in_memory.final_cost, rel=1e-9)
    np.testing.assert_allclose(on_cluster.w, in_memory.w, rtol=1e-9, atol=1e-12)
    assert on_cluster.b == pytest.approx(in_memory.b, rel=1e-9)
    assert on_cluster.train_accuracy == in_memory.train_accuracy
    assert on_cluster.train_examples == 209
    assert on_cluster.settings == in_memory.settings


_REAL = {}


def numpy_way(hidden):
    """On a worker: its passes work their blocks as where Numba is not installed (hidden),
    or compiled again."""
    from catclf import fused

    _REAL.setdefault("kernel", fused.pixel_kernel)
    fused.pixel_kernel = (lambda: None) if hidden else _REAL["kernel"]
    return fused.pixel_kernel() is None


def test_workers_without_numba_give_the_same_model(two_workers):
    train_set, _ = catclf.load_data()
    images = da.from_array(train_set.images, chunks=(70, 64, 64, 3))
    labels = da.from_array(train_set.labels, chunks=70)
    assert set(two_workers.run(numpy_way, True).values()) == {True}
    try:
        on_cluster = catclf.dask.train(images, labels, num_iterations=50, client=two_workers)
    finally:
        assert set(two_workers.run(numpy_way, False).values()) == {False}
    in_memory = catclf.train(train_set, num_iterations=50, solver="primal")
    assert on_cluster.costs == pytest.approx(in_memory.costs, rel=1e-9)
    assert on_cluster.final_cost == pytest.approx(in_memory.final_cost, rel=1e-9)
    np.testing.assert_allclose(on_cluster.w, in_memory.w, rtol=1e-9, atol=1e-12)
    assert on_cluster.train_accuracy == in_memory.train_accuracy


def test_each_iteration_is_one_task_per_chunk_on_both_workers(course_runs):
    _, _, tasks = course_runs
    passes = [t for t in tasks if task_name(t["key"]) == "_pass"]
    assert len(passes) == (200 + 1) * 7  # 209 images in 7 chunks; the last pass judges w
    assert len({t["worker"] for t in passes}) == 2


@pytest.fixture(scope="module")
def generated_runs(client):
    """GENERATED images made on the workers, trained on there; the same images made here,
    trained on with catclf.train."""
    client.wait_for_workers(2, timeout=60)
    blocks = GENERATED // PER_CHUNK
    images = da.map_blocks(
        generated_block,
        chunks=((PER_CHUNK,) * blocks, (64,), (64,), (3,)),
        dtype=np.uint8,
    )
    labels = images.map_blocks(redder_than_blue, drop_axis=[1, 2, 3], dtype=np.int64)
    sent_to_the_client(client)
    watched, cluster_costs = costs_of_each_iteration()
    with get_task_stream(client) as stream:
        on_cluster = catclf.dask.train(
            images,
            labels,
            learning_rate=GENERATED_RATE,
            num_iterations=GENERATED_ITERATIONS,
            l2=0.5,
            progress=watched,
            client=client,
        )
    sent = sent_to_the_client(client)
    here = np.concatenate([generated_block((i,)) for i in range(blocks)])
    watched, memory_costs = costs_of_each_iteration()
    in_memory = catclf.train(
        catclf.Dataset(here, redder_than_blue(here)),
        learning_rate=GENERATED_RATE,
        num_iterations=GENERATED_ITERATIONS,
        l2=0.5,
        progress=watched,
        memory_limit="400MB",  # in blocks, as the cluster computes: X would take 2 GB
    )
    return on_cluster, cluster_costs, in_memory, memory_costs, stream.data, sent


def test_images_made_on_the_workers_give_the_model_of_the_same_images_in_memory(
    generated_runs,
):
    on_cluster, cluster_costs, in_memory, memory_costs, _, _ = generated_runs
    assert len(cluster_costs) == GENERATED_ITERATIONS
    assert cluster_costs == pytest.approx(memory_costs, rel=1e-9)
    assert cluster_costs[-1] < cluster_costs[0]
    assert on_cluster.final_cost == pytest.approx(in_memory.final_cost, rel=1e-9)
    np.testing.assert_allclose(on_cluster.w, in_memory.w, rtol=1e-9, atol=1e-15)
    assert on_cluster.b == pytest.approx(in_memory.b, rel=1e-9)
    assert on_cluster.train_accuracy == in_memory.train_accuracy
    assert on_cluster.train_examples == GENERATED


def test_the_images_are_made_and_used_on_both_workers(generated_runs):
    *_, tasks, _ = generated_runs
    made = {t["worker"] for t in tasks if task_name(t["key"]) == "generated_block"}
    used = {t["worker"] for t in tasks if task_name(t["key"]) == "_pass"}
    assert len(made) == len(used) == 2


def test_the_client_takes_only_sums_never_images(generated_runs):
    *_, sent = generated_runs
    assert sent  # the sums did come
    assert {task_name(key) for key, _ in sent} <= SUMS
    assert max(size for _, size in sent) <= LARGEST_SENT
    # Each pass sends at most FAN_IN sums of 98 KB: about 2 MB in all, where the images
    # are 245 MB.
    passes = GENERATED_ITERATIONS + 2
    assert sum(size for _, size in sent) <= passes * catclf.dask.FAN_IN * LARGEST_SENT


def test_settings_are_checked_before_any_work(two_workers):
    images = da.zeros((10, 64, 64, 3), dtype=np.uint8, chunks=5)
    with pytest.raises(catclf.ParameterError, match="learning_rate is 0, expected"):
        catclf.dask.train(images, np.arange(10) % 2, learning_rate=0, client=two_workers)
    with pytest.raises(catclf.ParameterError, match="num_iterations is 1.5, expected"):
        catclf.dask.train(images, np.arange(10) % 2, num_iterations=1.5, client=two_workers)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (
            da.zeros((10, 64, 64, 3), dtype=np.float32, chunks=5),
            np.arange(10) % 2,
            r"^a Dask array: images are float32 \(10, 64, 64, 3\), expected uint8",
        ),
        (
            da.zeros((10, 32, 32, 3), dtype=np.uint8, chunks=5),
            np.arange(10) % 2,
            r"^a Dask array: images are uint8 \(10, 32, 32, 3\), expected uint8",
        ),
        (
            da.zeros((10, 64, 64, 3), dtype=np.uint8, chunks=5),
            np.arange(9) % 2,
            r"^a Dask array: labels are int64 \(9,\), expected 10 labels of 0 or 1$",
        ),
        (
            da.zeros((10, 64, 64, 3), dtype=np.uint8, chunks=5),
            da.from_array(np.arange(10) % 2, chunks=5)[:8],
            r"^a Dask array: labels are int64 \(8,\), expected 10 labels of 0 or 1$",
        ),
        (
            da.zeros((10, 64, 64, 3), dtype=np.uint8, chunks=5),
            da.from_array(np.array([0, 1, 0, 1, 0, 1, 5, 0, 1, 0]), chunks=5),
            r"^a Dask array: labels must be 0 \(the first class\) or 1 \(the second\): 5$",
        ),
        (
            da.zeros((10, 64, 64, 3), dtype=np.uint8, chunks=5),
            np.ones(10),
            r"^a Dask array: the training set holds only cat examples; it needs both",
        ),
    ],
    ids=["float pixels", "32x32", "9 labels", "8 Dask labels", "a label 5 on a worker", "cats"],
)
def test_data_of_the_wrong_form_is_a_data_error(two_workers, images, labels, message):
    with pytest.raises(catclf.DataError, match=message) as raised:
        catclf.dask.train(images, labels, num_iterations=1, client=two_workers)
    assert "\n" not in str(raised.value)


def test_images_in_memory_are_for_catclf_train(two_workers):
    images = np.zeros((10, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(catclf.ParameterError, match=r"images is a ndarray, expected a Dask"):
        catclf.dask.train(images, np.arange(10) % 2, client=two_workers)


def test_labels_as_a_course_row_or_as_booleans_train_alike(two_workers):
    images = da.from_array(generated_block((0,))[:40], chunks=(15, 64, 64, 3))
    labels = np.arange(40) % 3 == 0
    models = [
        catclf.dask.train(images, given, num_iterations=3, client=two_workers)
        for given in (labels, labels.reshape(1, -1), da.from_array(labels.astype(np.uint8), 7))
    ]
    assert models[0].w.tolist() == models[1].w.tolist() == models[2].w.tolist()
    assert models[0].costs == models[1].costs == models[2].costs


def test_a_cost_that_stops_being_a_number_is_training_that_diverged(two_workers):
    images = da.from_array(generated_block((1,))[:40], chunks=(20, 64, 64, 3))
    with pytest.raises(catclf.TrainingDiverged, match="training diverged at learning rate 1e"):
        catclf.dask.train(
            images, np.arange(40) % 2, learning_rate=1e300, num_iterations=5, client=two_workers
        )


# Prediction


@pytest.fixture(scope="module")
def photo_list(tmp_path_factory):
    """1,300 paths, more than one task's share: small PNGs (each 37 times), the sample
    photos, a broken JPEG and a missing file among them."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    pngs = []
    for i in range(30):
        path = folder / f"{i}.png"
        save_png(path, rng.integers(0, 256, size=(40 + i, 70 - i, 3), dtype=np.uint8))
        pngs.append(str(path))
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    paths = [pngs[i % len(pngs)] for i in range(1300)]
    paths[0:7] = sorted(str(p) for p in SAMPLES.glob("*.*g"))
    paths[600] = str(broken)
    paths[1290] = str(folder / "missing.png")
    return paths


def as_catclf_predict_scores(model, paths):
    """(P(cat) or the ImageError's words) of each path, as `catclf predict` scores them."""
    with scoring(lambda: model, paths, jobs=1) as scored:
        return [r if isinstance(r, float) else str(r) for _, r in scored.scored()]


def in_words(results):
    return [r if isinstance(r, float) else str(r) for r in results]


def test_scores_of_a_list_are_those_of_catclf_predict_with_its_errors(two_workers, photo_list):
    model = catclf.load_model()
    results = catclf.dask.score_images(model, photo_list, client=two_workers)
    assert in_words(results) == as_catclf_predict_scores(model, photo_list)  # to the bit
    assert isinstance(results[600], catclf.ImageError)
    assert str(results[600]).startswith(f"{photo_list[600]}: corrupt or truncated image")
    assert str(results[1290]) == f"{photo_list[1290]}: no such file"


def test_scores_of_a_bag_in_uneven_partitions_are_in_input_order(two_workers, photo_list):
    model = catclf.load_model()
    bag = db.from_sequence(photo_list, npartitions=9)
    results = catclf.dask.score_images(model, bag, client=two_workers)
    assert in_words(results) == as_catclf_predict_scores(model, photo_list)


def test_predict_proba_is_the_models_and_raises_the_first_error(two_workers, photo_list):
    model = catclf.load_model()
    readable = [p for i, p in enumerate(photo_list) if i not in (600, 1290)]
    p = catclf.dask.predict_proba(model, readable, client=two_workers)
    assert p.dtype == np.float64 and p.shape == (len(readable),)
    assert p.tolist() == model.predict_proba(readable).tolist()
    with pytest.raises(catclf.ImageError, match="broken.jpg: corrupt or truncated image"):
        catclf.dask.predict_proba(model, photo_list, client=two_workers)
    assert catclf.dask.predict_proba(model, [], client=two_workers).shape == (0,)


def test_what_is_not_a_path_is_a_parameter_error(two_workers, photo_list):
    model = catclf.load_model()
    expected = "expected paths, str or os.PathLike$"
    with pytest.raises(catclf.ParameterError, match=f"^paths is a list holding an int, {expected}"):
        catclf.dask.score_images(model, [photo_list[0], 3], client=two_workers)
    with pytest.raises(catclf.ParameterError, match=f"^paths is a Bag holding an int, {expected}"):
        catclf.dask.score_images(model, db.from_sequence([photo_list[0], 3]), client=two_workers)
    with pytest.raises(catclf.ParameterError, match="paths is a str, expected a list"):
        catclf.dask.score_images(model, photo_list[0], client=two_workers)
    with pytest.raises(catclf.ParameterError, match="model is a str, expected a catclf Model"):
        catclf.dask.score_images("model.h5", photo_list, client=two_workers)


# Failures


def test_a_worker_killed_mid_run_ends_it_with_one_clear_error(two_workers):
    client = two_workers
    images = da.map_blocks(
        generated_block, chunks=((PER_CHUNK,) * 6, (64,), (64,), (3,)), dtype=np.uint8
    )
    pids = client.run(os.getpid)
    iterations = []

    def progress(task, total, *, unit=""):
        def step(done=1, *, cost=None):
            iterations.append(cost)
            if len(iterations) == 3:  # a worker that holds images, after the third step
                holding = [
                    w
                    for w, keys in client.has_what().items()
                    if any(task_name(k) == "_hold" for k in keys)
                ]
                os.kill(pids[holding[0]], signal.SIGKILL)

        return step

    with pytest.raises(ClusterError) as raised:
        catclf.dask.train(
            images,
            np.arange(6 * PER_CHUNK) % 2,
            learning_rate=GENERATED_RATE,
            num_iterations=50,
            progress=progress,
            client=client,
        )
    said = str(raised.value)
    assert said.startswith(
        "a Dask array: a Dask worker holding training images left the cluster during iteration "
    )
    assert said.endswith(" of 50; no model was made")
    assert "\n" not in said
    assert len(iterations) < 50


def test_a_worker_chosen_for_w_as_it_dies_is_passed_over(two_workers, monkeypatch):
    # The scheduler may choose a worker killed a moment before, for the w of an iteration:
    # asked again, it chooses one alive, and the run goes on (or, had the dead one held
    # images, ends with the error above).
    from distributed.comm import CommClosedError

    scatter, failed = two_workers.scatter, []

    def once_closed(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise CommClosedError("in <TCP (closed) ConnectionPool.scatter>: Stream is closed")
        return scatter(*args, **kwargs)

    monkeypatch.setattr(two_workers, "scatter", once_closed)
    train_set, _ = catclf.load_data()
    images = da.from_array(train_set.images, chunks=(105, 64, 64, 3))
    on_cluster = catclf.dask.train(images, train_set.labels, num_iterations=1, client=two_workers)
    assert failed == [True]
    assert on_cluster.costs == pytest.approx(COSTS[:1], abs=5e-7)


def test_without_a_client_the_error_says_to_connect_one():
    script = (
        "import numpy as np, dask.array as da, catclf, catclf.dask\n"
        "images = da.zeros((4, 64, 64, 3), dtype=np.uint8)\n"
        "try:\n"
        "    catclf.dask.train(images, [0, 1, 0, 1])\n"
        "except catclf.CatclfError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.stdout == (
        "ClusterError no Dask client to run on: connect one first, "
        "dask.distributed.Client(scheduler address)\n"
    )


def test_import_catclf_imports_no_dask_and_the_module_says_what_to_install():
    script = (
        "import sys, catclf\n"
        "catclf.train, catclf.load_model, catclf.Model\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
        "sys.modules['distributed'] = None\n"
        "try:\n"
        "    import catclf.dask\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.stdout == (
        "[]\ncatclf.dask needs dask and distributed: install the dask extra, "
        "pip install 'catclf[dask]'\n"
    )
