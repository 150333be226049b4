//! The form that starts a job, built from the kinds the server declares: pick a kind,
//! fill in its parameters, submit. Values are checked in the browser with the same
//! rules the server applies ([`crate::kind`]); whatever the server still refuses is shown
//! next to the field it names. A kind with a file parameter is sent as
//! `multipart/form-data`.

use leptos::html::Input as InputElement;
use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::client::{chosen_file, create_job, create_job_with_file};
use crate::job::{FieldError, JobSpec};
use crate::kind::{Input, KindInfo, ParamField, format_bytes};
use crate::state::JobsStore;

/// One parameter's input: what was typed, or the file input.
#[derive(Clone)]
struct ParamInput {
    field: ParamField,
    value: RwSignal<String>,
    file: NodeRef<InputElement>,
}

impl ParamInput {
    fn new(field: ParamField) -> Self {
        Self {
            value: RwSignal::new(field.default_text()),
            file: NodeRef::new(),
            field,
        }
    }

    fn path(&self) -> String {
        format!("params.{}", self.field.name)
    }
}

/// A kind and the inputs of its parameters.
#[derive(Clone)]
struct KindForm {
    info: KindInfo,
    inputs: Vec<ParamInput>,
}

impl KindForm {
    /// Reads the inputs into a spec (with the file input, if the kind takes a file).
    fn spec(&self) -> Result<(JobSpec, Option<ParamInput>), FieldError> {
        let mut params = Map::new();
        let mut file = None;
        for input in &self.inputs {
            if let Input::File { max_bytes, .. } = input.field.input {
                match chosen_file(input.file) {
                    None if input.field.required => {
                        return Err(FieldError::new(input.path(), "choose a file"));
                    }
                    Some((name, bytes)) if bytes > max_bytes => {
                        return Err(FieldError::new(
                            input.path(),
                            format!(
                                "{name} is {}, more than the {} allowed",
                                format_bytes(bytes),
                                format_bytes(max_bytes)
                            ),
                        ));
                    }
                    Some((name, 0)) => {
                        return Err(FieldError::new(
                            input.path(),
                            format!("the file {name} is empty"),
                        ));
                    }
                    _ => {}
                }
                file = Some(input.clone());
                continue;
            }
            let value = input
                .field
                .parse_text(&input.value.get_untracked())
                .map_err(|message| FieldError::new(input.path(), message))?;
            match value {
                Some(value) => {
                    params.insert(input.field.name.clone(), value);
                }
                None => input
                    .field
                    .check(None)
                    .map_err(|message| FieldError::new(input.path(), message))?,
            }
        }
        let spec = JobSpec::new(self.info.name.clone(), Value::Object(params));
        Ok((spec, file))
    }
}

/// The form that starts a job: its kind, its parameters' controls, and the submission.
/// (Long for its markup: a component's view is one tree, and every extra component
/// costs the browser bundle bytes it has few of; see the README's 300 KB budget.)
#[component]
pub(crate) fn NewJobForm(store: JobsStore, kinds: Vec<KindInfo>) -> AnyView {
    let forms: Vec<KindForm> = kinds
        .into_iter()
        .map(|info| KindForm {
            inputs: info.params.iter().cloned().map(ParamInput::new).collect(),
            info,
        })
        .collect();
    let selected = RwSignal::new(
        forms
            .first()
            .map(|f| f.info.name.clone())
            .unwrap_or_default(),
    );
    let forms = StoredValue::new(forms);
    let field_error = RwSignal::new(None::<FieldError>);
    let form_error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form_error.set(None);
        let Some(form) = forms.with_value(|forms| {
            forms
                .iter()
                .find(|f| f.info.name == selected.get_untracked())
                .cloned()
        }) else {
            return;
        };
        let (spec, file) = match form.spec() {
            Ok(read) => read,
            Err(err) => {
                field_error.set(Some(err));
                return;
            }
        };
        field_error.set(None);
        pending.set(true);
        leptos::task::spawn_local(async move {
            let created = match &file {
                Some(input) => create_job_with_file(&spec, &input.field.name, input.file).await,
                None => create_job(&spec).await,
            };
            match created {
                Ok(job) => {
                    store.upsert(job);
                    if let Some(element) = file.and_then(|input| input.file.get_untracked()) {
                        element.set_value("");
                    }
                }
                Err(failure) => match failure.field() {
                    Some(field) if field.starts_with("params.") => {
                        field_error.set(Some(FieldError::new(field, failure.message())))
                    }
                    _ => form_error.set(Some(failure.message())),
                },
            }
            pending.set(false);
        });
    };

    let options = forms.with_value(|forms| {
        forms
            .iter()
            .map(|f| view! { <option value=f.info.name.clone()>{f.info.label.clone()}</option> })
            .collect_view()
    });
    let fieldsets = forms.with_value(|forms| {
        forms
            .iter()
            .map(|form| {
                let name = form.info.name.clone();
                let hidden = move || selected.with(|s| *s != name);
                let kind = form.info.name.clone();
                view! {
                    <fieldset class="params" hidden=hidden data-kind=form.info.name.clone()>
                        <legend class="sr-only">{format!("{} parameters", form.info.label)}</legend>
                        <p class="kind-description">{form.info.description.clone()}</p>
                        {form
                            .inputs
                            .iter()
                            .map(|input| view! {
                                <ParamControl kind=kind.clone() input=input.clone() error=field_error />
                            })
                            .collect_view()}
                    </fieldset>
                }
            })
            .collect_view()
    });

    view! {
        <section class="new-job" aria-labelledby="new-job-heading">
            <h2 id="new-job-heading">"Start a job"</h2>
            <form on:submit=on_submit novalidate data-testid="new-job-form">
                <div class="field">
                    <label for="field-kind">"Kind"</label>
                    <select
                        id="field-kind"
                        name="kind"
                        prop:value=move || selected.get()
                        on:change=move |ev| {
                            selected.set(event_target_value(&ev));
                            field_error.set(None);
                            form_error.set(None);
                        }
                    >
                        {options}
                    </select>
                </div>
                {fieldsets}
                <button type="submit" class="button primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Starting…" } else { "Start job" }}
                </button>
                {move || form_error.get().map(|message| view! { <p class="form-error" role="alert">{message}</p> })}
            </form>
        </section>
    }
    .into_any()
}

/// One parameter's labelled control, with its hint and the error the form or the server
/// found for it. (Long for its markup: a control per kind of input.)
#[component]
fn ParamControl(kind: String, input: ParamInput, error: RwSignal<Option<FieldError>>) -> AnyView {
    let path = StoredValue::new(input.path());
    let name = input.field.name.clone();
    let message = move || {
        error.with(|e| {
            e.as_ref()
                .filter(|e| path.with_value(|path| e.field == *path))
                .map(|e| e.message.clone())
        })
    };
    let input_id = format!("field-{kind}-{name}");
    let error_id = format!("error-{kind}-{name}");
    let hint_id = format!("hint-{kind}-{name}");
    let described_by = format!("{hint_id} {error_id}");
    let invalid = move || if message().is_some() { "true" } else { "false" };
    let value = input.value;
    let label = if input.field.required {
        input.field.label.clone()
    } else {
        format!("{} (optional)", input.field.label)
    };
    let control = match &input.field.input {
        Input::Choice { options, .. } => view! {
            <select id=input_id.clone() name=name.clone() prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
                aria-invalid=invalid aria-describedby=described_by.clone()>
                {(!input.field.required).then(|| view! { <option value="">"—"</option> })}
                {options
                    .iter()
                    .map(|o| view! {
                        <option value=o.value.clone() selected=value.get_untracked() == o.value>{o.label.clone()}</option>
                    })
                    .collect_view()}
            </select>
        }
        .into_any(),
        Input::File { extensions, .. } => view! {
            <input id=input_id.clone() type="file" name=name.clone() accept=extensions.join(",")
                node_ref=input.file aria-invalid=invalid aria-describedby=described_by.clone() />
        }
        .into_any(),
        other => {
            let (kind_attr, mode) = match other {
                Input::Integer { .. } => ("text", "numeric"),
                Input::Date => ("date", "text"),
                _ => ("text", "text"),
            };
            view! {
                <input
                    id=input_id.clone()
                    type=kind_attr
                    inputmode=mode
                    name=name.clone()
                    // The attribute is the server-rendered default (what a page without
                    // its script yet shows); the binding takes over after hydration.
                    value=value.get_untracked()
                    bind:value=value
                    aria-invalid=invalid
                    aria-describedby=described_by.clone()
                />
            }
            .into_any()
        }
    };
    view! {
        <div class="field">
            <label for=input_id>{label}</label>
            {control}
            <small class="hint" id=hint_id>{input.field.hint.clone().unwrap_or_default()}</small>
            <small class="field-error" id=error_id.clone() data-testid=error_id>
                {message}
            </small>
        </div>
    }
    .into_any()
}
