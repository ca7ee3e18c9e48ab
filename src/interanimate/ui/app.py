"""``interanimate ui``'s page: two tabs, Animate and Dataset (docs/ui.md). Layout and wiring only — every button calls a
function of :mod:`interanimate.ui.actions` or :mod:`interanimate.ui.jobs`, which call the library.

(No ``from __future__ import annotations`` here: Gradio reads the ``gr.SelectData`` annotation of an event handler at
run time to pass it the event.)"""

from pathlib import Path

from interanimate.errors import UserError
from interanimate.ui import actions
from interanimate.ui.jobs import GenerationJobs
from interanimate.ui.roots import Roots


def _error(err: Exception) -> str:
    return "**Error:** " + " ".join(str(err).split())


def theme():
    """Gradio's default look with the system's fonts: the default theme would fetch web fonts from Google, and
    nothing here downloads behind the user's back."""
    import gradio as gr

    font = [gr.themes.Font("system-ui"), "sans-serif"]
    return gr.themes.Default(font=font, font_mono=[gr.themes.Font("monospace"), "monospace"])


def build_app(workdir: Path, data_roots: list[Path], model_dir: Path | None = None):
    import gradio as gr

    from interanimate.taxonomy import CLASSES

    datasets = Roots(data_roots)  # what the Dataset tab may open and read
    jobs = GenerationJobs(workdir / "jobs")
    class_choices = [f"{c.code} — {c.description}" for c in CLASSES]

    with gr.Blocks(title="InterAnimate", analytics_enabled=False) as app:
        gr.Markdown("# InterAnimate\nAnimate a portrait with a hand–face interaction, or review a generated dataset.")
        with gr.Tab("Animate", id="animate"):
            with gr.Row():
                with gr.Column():
                    portrait = gr.Image(label="Portrait", type="filepath", sources=["upload"], elem_id="portrait")
                    sample = gr.Button("Use a bundled SynthHF sample portrait", elem_id="use-sample")
                    source = gr.Radio(list(actions.SOURCES), value="class", label="Motion", elem_id="source")
                    class_code = gr.Dropdown(class_choices, value=class_choices[0], label="Interaction class",
                                             elem_id="class-code")
                    text = gr.Textbox(label="Free text (e.g. 'the left hand pinches the nose')", elem_id="text")
                    pose_file = gr.File(label="Pose file (.npz)", file_types=[".npz"], elem_id="pose-file")
                    video_file = gr.File(label="Driving video", file_types=["video"], elem_id="driving-video")
                    steps = gr.Slider(1, 100, value=25, step=1, label="Steps", elem_id="steps")
                    guidance = gr.Slider(1.0, 10.0, value=2.0, step=0.1, label="Guidance", elem_id="guidance")
                    frames = gr.Slider(2, 64, value=16, step=1, label="Frames", elem_id="frames")
                    seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
                    go = gr.Button("Animate", variant="primary", elem_id="animate-button")
                with gr.Column():
                    status = gr.Markdown(elem_id="animate-status")
                    video = gr.Video(label="Video", elem_id="result-video", interactive=False)
                    preview = gr.Image(label="reference | pose | generated", elem_id="result-preview",
                                       interactive=False)
                    log = gr.Textbox(label="What the command printed (hand check last)", lines=5,
                                     elem_id="animate-log")
                    downloads = gr.File(label="Downloads: mp4, gif, poses", file_count="multiple",
                                        elem_id="downloads", interactive=False)

            def use_sample():
                return str(actions.sample_portrait(workdir))

            def animate(portrait, source, class_code, text, pose_file, video_file, steps, guidance, frames, seed,
                        progress=gr.Progress(track_tqdm=True)):
                try:
                    if not portrait:
                        raise UserError("upload a portrait, or use the bundled sample")
                    argv = actions.animate_argv(Path(portrait), actions.new_output(workdir), source, class_code,
                                                text, pose_file, video_file, steps, guidance, frames, seed or 0,
                                                model_dir)
                    result = actions.run_animate(argv)
                except UserError as err:
                    return _error(err), None, None, "", None
                files = [str(p) for p in (result.video, result.gif, result.poses) if p is not None and p.is_file()]
                return "Done.", str(result.video), str(result.preview), result.log, files

            sample.click(use_sample, outputs=portrait)
            go.click(animate, [portrait, source, class_code, text, pose_file, video_file, steps, guidance, frames,
                               seed], [status, video, preview, log, downloads])

        with gr.Tab("Dataset", id="dataset"):
            full, shown, root_state = gr.State(), gr.State(), gr.State()
            with gr.Row():
                folder = gr.Dropdown([str(p) for p in actions.find_sets(datasets)], value=None,
                                     allow_custom_value=True,
                                     label="Dataset folder (inside the folders given with --data)",
                                     elem_id="dataset-folder")
                open_button = gr.Button("Open", elem_id="open-dataset")
            dataset_status = gr.Markdown(elem_id="dataset-status")
            with gr.Row():
                f_class = gr.Dropdown([c.code for c in CLASSES], multiselect=True, label="Class",
                                      elem_id="filter-class")
                f_split = gr.Dropdown(["train", "val", "test"], multiselect=True, label="Split",
                                      elem_id="filter-split")
                f_identity = gr.Textbox(label="Identity contains", elem_id="filter-identity")
                f_hand = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Hand found in at least (QC)",
                                   elem_id="filter-hand")
                apply = gr.Button("Filter", elem_id="apply-filter")
            table = gr.Dataframe(interactive=False, elem_id="manifest-table", max_height=420)
            with gr.Row():
                clip_video = gr.Video(label="Clip", elem_id="clip-video", interactive=False)
                clip_preview = gr.Image(label="reference | pose | generated", interactive=False,
                                        elem_id="clip-preview")
                clip_label = gr.JSON(label="Label", elem_id="clip-label")
            gallery = gr.Gallery(label="Report: quality histograms and contact sheet", elem_id="report-gallery")
            with gr.Accordion("Generate or resume a set", open=False, elem_id="generate-panel"):
                recipe = gr.Dropdown([str(p) for p in actions.recipes(datasets)], allow_custom_value=True,
                                     label="Recipe", elem_id="recipe")
                out_dir = gr.Textbox(label="Output folder (inside a data folder)", elem_id="generate-out")
                start = gr.Button("Start / resume", elem_id="generate-button")
            # outside the (closed by default) accordion: a reloaded page shows the server's jobs at once
            job_status = gr.Markdown(elem_id="generation-status")
            job_progress = gr.Slider(0, 100, value=0, interactive=False, label="Generation progress (%)",
                                     elem_id="generation-progress")
            timer = gr.Timer(2.0)

            def open_set(folder):
                try:
                    root, frame = actions.open_dataset(datasets, folder or "")
                except UserError as err:
                    return _error(err), None, None, None, None, []
                view = actions.filter_table(frame, None, None, None, None)
                images = [str(p) for p in actions.report_images(datasets, root)]
                return (f"{len(frame)} clips in {root}", frame, view, str(root), view, images)

            def apply_filters(frame, classes, splits, identity, min_hand):
                if frame is None:
                    return None, None, "Open a dataset first."
                view = actions.filter_table(frame, classes, splits, identity, min_hand)
                return view, view, f"{len(view)} of {len(frame)} clips"

            def select_clip(frame, view, root, evt: gr.SelectData):
                try:
                    if frame is None or view is None or root is None:
                        raise UserError("open a dataset first")
                    clip_id = view.iloc[evt.index[0]]["clip_id"]
                    row = frame[frame["clip_id"] == clip_id].iloc[0].to_dict()
                    video, preview, label = actions.clip_files(datasets, Path(root), row)
                except (UserError, IndexError, KeyError) as err:
                    return None, None, None, _error(err)
                return str(video), (str(preview) if preview else None), label, f"clip {clip_id}"

            def start_job(recipe, out):
                try:
                    recipe_path = actions.check_recipe(datasets, recipe)
                    out_path = datasets.resolve(out, "output folder")
                    state = jobs.start(recipe_path, out_path)
                except UserError as err:
                    return _error(err), 0
                return state.describe(), round(100 * state.fraction)

            def poll(out):
                if not out:
                    return jobs.describe_all() or "", 0
                try:
                    state = jobs.status(datasets.resolve(out, "output folder"))
                except UserError:
                    return jobs.describe_all() or "", 0
                return state.describe(), round(100 * state.fraction)

            open_button.click(open_set, folder, [dataset_status, full, shown, root_state, table, gallery])
            apply.click(apply_filters, [full, f_class, f_split, f_identity, f_hand], [shown, table, dataset_status])
            table.select(select_clip, [full, shown, root_state], [clip_video, clip_preview, clip_label,
                                                                  dataset_status])
            start.click(start_job, [recipe, out_dir], [job_status, job_progress])
            timer.tick(poll, out_dir, [job_status, job_progress])
            app.load(lambda: jobs.describe_all() or "", outputs=job_status)
    app.generation_jobs = jobs
    return app
