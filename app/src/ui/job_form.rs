//! The form that starts a job: pick a kind, fill in its parameters, submit. Parameters
//! are checked in the browser with the same rules the server applies, and any error the
//! server still finds is shown next to the field it names.

use std::str::FromStr;

use leptos::prelude::*;

use super::store::JobsStore;
use crate::client::create_job;
use crate::job::{DemoParams, ExportParams, FieldError, JobKind, JobSpec};

/// The form's raw inputs, as typed.
#[derive(Clone, Copy)]
struct Inputs {
    kind: RwSignal<JobKind>,
    steps: RwSignal<String>,
    step_ms: RwSignal<String>,
    fail_at: RwSignal<String>,
    rows: RwSignal<String>,
}

fn parse_number<T: FromStr>(field: &str, raw: &str) -> Result<T, FieldError> {
    raw.trim()
        .parse()
        .map_err(|_| FieldError::new(field, "must be a whole number"))
}

impl Inputs {
    fn spec(&self) -> Result<JobSpec, FieldError> {
        let spec = match self.kind.get_untracked() {
            JobKind::Demo => {
                let fail_at = self.fail_at.get_untracked();
                JobSpec::Demo(DemoParams {
                    steps: parse_number("params.steps", &self.steps.get_untracked())?,
                    step_ms: parse_number("params.stepMs", &self.step_ms.get_untracked())?,
                    fail_at: if fail_at.trim().is_empty() {
                        None
                    } else {
                        Some(parse_number("params.failAt", &fail_at)?)
                    },
                    reports_per_step: None,
                })
            }
            JobKind::Export => JobSpec::Export(ExportParams {
                rows: parse_number("params.rows", &self.rows.get_untracked())?,
            }),
        };
        spec.validate()?;
        Ok(spec)
    }
}

#[component]
pub(crate) fn NewJobForm(store: JobsStore) -> AnyView {
    let inputs = Inputs {
        kind: RwSignal::new(JobKind::Demo),
        steps: RwSignal::new("10".into()),
        step_ms: RwSignal::new("500".into()),
        fail_at: RwSignal::new(String::new()),
        rows: RwSignal::new("10000".into()),
    };
    let field_error = RwSignal::new(None::<FieldError>);
    let form_error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form_error.set(None);
        let spec = match inputs.spec() {
            Ok(spec) => spec,
            Err(err) => {
                field_error.set(Some(err));
                return;
            }
        };
        field_error.set(None);
        pending.set(true);
        leptos::task::spawn_local(async move {
            match create_job(&spec).await {
                Ok(job) => store.upsert(job),
                Err(failure) => match failure.field() {
                    Some(field) => field_error.set(Some(FieldError::new(field, failure.message()))),
                    None => form_error.set(Some(failure.message())),
                },
            }
            pending.set(false);
        });
    };

    let is_demo = move || inputs.kind.get() == JobKind::Demo;
    view! {
        <section class="new-job" aria-labelledby="new-job-heading">
            <h2 id="new-job-heading">"Start a job"</h2>
            <form on:submit=on_submit novalidate data-testid="new-job-form">
                <div class="field">
                    <label for="field-kind">"Kind"</label>
                    <select
                        id="field-kind"
                        name="kind"
                        prop:value=move || inputs.kind.get().as_str()
                        on:change=move |ev| {
                            if let Ok(kind) = event_target_value(&ev).parse() {
                                inputs.kind.set(kind);
                                field_error.set(None);
                            }
                        }
                    >
                        {JobKind::ALL
                            .into_iter()
                            .map(|kind| view! { <option value=kind.as_str()>{kind.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <Show when=is_demo>
                    <NumberField label="Steps" name="steps" field="params.steps" value=inputs.steps error=field_error
                        hint=format!("{} to {}", DemoParams::STEPS.start(), DemoParams::STEPS.end()) />
                    <NumberField label="Milliseconds per step" name="stepMs" field="params.stepMs" value=inputs.step_ms
                        error=field_error hint=format!("{} to {}", DemoParams::STEP_MS.start(), DemoParams::STEP_MS.end()) />
                    <NumberField label="Fail at step" name="failAt" field="params.failAt" value=inputs.fail_at
                        error=field_error hint="optional: the step at which to fail".to_owned() />
                </Show>
                <Show when=move || !is_demo()>
                    <NumberField label="Rows" name="rows" field="params.rows" value=inputs.rows error=field_error
                        hint=format!("{} to {}", ExportParams::ROWS.start(), crate::job::group_digits(*ExportParams::ROWS.end())) />
                </Show>
                <button type="submit" class="button primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Starting…" } else { "Start job" }}
                </button>
                {move || form_error.get().map(|message| view! { <p class="form-error" role="alert">{message}</p> })}
            </form>
        </section>
    }
    .into_any()
}

/// A labelled number input that shows the error the form or the server found for it.
#[component]
fn NumberField(
    label: &'static str,
    name: &'static str,
    field: &'static str,
    value: RwSignal<String>,
    error: RwSignal<Option<FieldError>>,
    hint: String,
) -> AnyView {
    let message = move || {
        error.with(|e| {
            e.as_ref()
                .filter(|e| e.field == field)
                .map(|e| e.message.clone())
        })
    };
    let input_id = format!("field-{name}");
    let error_id = format!("{name}-error");
    let hint_id = format!("{name}-hint");
    let described_by = format!("{hint_id} {error_id}");
    view! {
        <div class="field">
            <label for=input_id.clone()>{label}</label>
            <input
                id=input_id
                type="text"
                inputmode="numeric"
                name=name
                // The attribute is the server-rendered default (what a page without
                // its script yet shows); the binding takes over after hydration.
                value=value.get_untracked()
                bind:value=value
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
                aria-describedby=described_by
            />
            <small class="hint" id=hint_id>{hint}</small>
            <small class="field-error" id=error_id data-testid=format!("error-{name}")>
                {message}
            </small>
        </div>
    }
    .into_any()
}
