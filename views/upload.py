"""Upload data: an analyst's raw export (any city's layout) in, mapped, validated, previewed and committed
as a new version with provenance; earlier versions one click away. Same code path as `dashboard ingest`."""

import streamlit as st

from dashboard import charts, ingest, loader, mapping, maps, schema, ui

st.title("Upload data")
who = ui.identity()
st.caption("CSV, TSV or TXT (any delimiter, UTF-8 or Latin-1, gzipped or not), Excel .xlsx, Parquet or JSON; "
           "boundaries as GeoJSON or a zipped Shapefile. Nothing is stored until you commit, and every commit "
           "is a new version you can roll back.")
file = st.file_uploader("Export file", key="upload_file", type=["csv", "tsv", "txt", "gz", "xlsx", "xls",
                                                                "parquet", "json", "geojson", "zip"])
if st.session_state.get("upload_done"):
    ui.note(ui.escape(st.session_state["upload_done"]), icon=":material/task_alt:")
kind = "incidents"
if file is not None:
    with ui.step("Reading the file…", f"Read {file.name}"):
        upload = loader.read_upload(file.name, file.getvalue(), file.file_id)
    loader.audit_upload(file.file_id, file.name, file.size, who)
    guess = loader.suggest(upload, file.file_id)
    kind = st.selectbox("What does the file hold?", list(guess.kinds), key=f"kind_{file.file_id}",
                        format_func=lambda k: f"{mapping.KIND_LABELS[k]} · match {guess.kinds[k]:.0%}")
    suggestion = loader.suggest(upload, file.file_id, kind)
    if suggestion.profile:
        ui.note(f"Using the mapping you saved as '{ui.escape(suggestion.profile)}' for files with these columns.")
    for finding in suggestion.notes:
        ui.warning(ui.escape(finding))

    st.subheader("1 · Columns")
    fields = ui.field_editor(suggestion.fields, list(upload.frame.columns), key=f"fields_{file.file_id}_{kind}")
    plan = mapping.fields_to_plan(fields, suggestion.plan)
    if kind in ("incidents", "areas"):
        plan = ui.plan_options(plan, f"opts_{file.file_id}", mapping.COMMON_CRS, mapping.TIMEZONES)
    if kind == "incidents":
        st.subheader("2 · Offenses and areas")
        offense_table, area_tables = loader.match_tables(upload, file.file_id, plan)
        offenses = ui.offense_editor(offense_table, key=f"offenses_{file.file_id}")
        ui.caption("Groups come from the offense table, your saved profile, or a keyword guess to check. "
                   "Your changes are saved with the profile when you commit.")
        matches = {}
        for level, table in area_tables.items():
            st.markdown(f"**{schema.LEVELS[level].label}: values in the file matched to the boundaries**")
            matches[level] = ui.area_editor(table, list(loader.areas(level)["area_id"]),
                                            key=f"areas_{file.file_id}_{level}")
        plan = mapping.with_choices(plan, offenses=offenses, areas=matches)
    elif kind in ("areas", "population"):
        level = st.selectbox("Boundary level", list(schema.LEVELS), key=f"level_{file.file_id}",
                             index=list(schema.LEVELS).index(plan.level or "community_area"),
                             format_func=lambda lv: schema.LEVELS[lv].label)
        plan = mapping.with_choices(plan, level=level)

    missing = mapping.missing_required(plan)
    if missing:
        ui.empty_state(f"Choose the column for: {', '.join(missing)}.",
                       "Pick it in the 'Column in your file' cell of the table above.")
        st.stop()
    st.subheader("3 · Check what would be stored")
    with ui.step("Validating every row…", "Validated"):
        prepared = loader.prepare_upload(upload, file.file_id, plan)
    ui.validation_report(prepared.report, f"rejected_{file.name}.csv")
    if kind == "incidents" and len(prepared.frame):
        ui.chart(charts.weekly_counts(ingest.preview_weekly(prepared.frame),
                                      title="Incidents per week in this file (as they would be stored)"),
                 key="preview_weekly")
        levels = list(loader.boundaries())
        if levels:
            shown = st.segmented_control("Map by", levels, default=levels[0], key="preview_level",
                                         format_func=lambda lv: schema.LEVELS[lv].label) or levels[0]
            settings = loader.settings()
            ui.folium_map(maps.count_choropleth(
                loader.areas(shown), ingest.preview_area_counts(prepared.frame, shown), value_column="count",
                label="Incidents", legend_title="Incidents in this file", level_label=schema.LEVELS[shown].label,
                static_url=settings.static_url), key="preview_map", static_url=settings.static_url, height=420)

    st.subheader("4 · Commit")
    ui.caption(f"Recorded with the version and in the audit log as {ui.escape(who.username)}.")
    mode = st.radio("How", ["append", "replace"], horizontal=True, key="upload_mode",
                    format_func={"append": "Append (same id: this file's record wins)",
                                 "replace": "Replace the dataset" if kind != "areas" else "Replace this level"}.get)
    profile = st.text_input("Save this mapping as", value=plan.name or f"{kind} from {file.name}",
                            key=f"profile_{file.file_id}")
    if st.button("Commit", type="primary", key="upload_commit"):
        with ui.step("Committing…", "Committed"):
            version = loader.commit_upload(prepared, mode, who, plan.level)
            loader.save_profile(mapping.with_choices(plan, name=profile), who.username)
        rows = next(s["rows"] for s in loader.status() if s["dataset"] == kind)
        st.session_state["upload_done"] = (f"Committed {prepared.report.rows_kept:,} rows from {file.name} as "
                                           f"{kind} version {version}; {kind} now hold {rows:,} rows.")
        st.rerun()

st.subheader("Versions")
dataset = st.selectbox("Dataset", list(schema.DATASETS), index=list(schema.DATASETS).index(kind),
                       key="versions_dataset")
picked = ui.version_list(loader.versions(), dataset, key="versions")
if picked is not None:
    loader.rollback(dataset, picked, who)
    st.session_state["upload_done"] = f"{dataset} version {picked} is active again."
    st.rerun()
