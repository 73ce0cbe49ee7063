//! The Kubernetes example's entry point (`examples/deploy/entrypoint.sh`): from a
//! StatefulSet pod's stable name it writes the host file every pod shares and takes the pod's
//! ordinal as `--process`.

use std::process::Command;

#[test]
fn a_statefulset_pod_finds_its_line_in_the_host_file_of_every_pod() {
    let dir = sluice_tests::temp_dir("deploy-entrypoint");
    // A stand-in for `hostname` (the pod's name) and for the job (prints its arguments).
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let hostname = bin.join("hostname");
    std::fs::write(&hostname, "#!/bin/sh\necho sluice-stats-2\n").unwrap();
    let job = bin.join("job");
    std::fs::write(&job, "#!/bin/sh\necho \"$@\"\ncat /tmp/sluice.hosts\n").unwrap();
    for f in [&hostname, &job] {
        Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/deploy/entrypoint.sh"
    );
    let out = Command::new("sh")
        .arg(script)
        .arg(&job)
        .arg("--window=fixed:60s")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("REPLICAS", "3")
        .env("SERVICE", "sluice-stats")
        .env("NAMESPACE", "jobs")
        .env("PORT", "2101")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("--window=fixed:60s --runner timely --hosts /tmp/sluice.hosts --process 2")
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        vec![
            "sluice-stats-0.sluice-stats.jobs.svc.cluster.local:2101",
            "sluice-stats-1.sluice-stats.jobs.svc.cluster.local:2101",
            "sluice-stats-2.sluice-stats.jobs.svc.cluster.local:2101",
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Kubernetes manifests, each document with the file it came from.
fn manifests() -> Vec<(String, yaml_rust2::Yaml)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/deploy/kubernetes");
    let mut docs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/deploy/kubernetes/ holds the manifests")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in yaml_rust2::YamlLoader::load_from_str(&text).unwrap() {
            docs.push((file.display().to_string(), doc));
        }
    }
    docs
}

fn kind(doc: &yaml_rust2::Yaml) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

/// The pod template's spec of a Job or StatefulSet.
fn pod(doc: &yaml_rust2::Yaml) -> &yaml_rust2::Yaml {
    &doc["spec"]["template"]["spec"]
}

/// The value of environment variable `name` of a pod's first container.
fn env<'a>(pod: &'a yaml_rust2::Yaml, name: &str) -> Option<&'a str> {
    pod["containers"][0]["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))?["value"]
        .as_str()
}

#[test]
fn the_kubernetes_manifests_fit_together_and_run_the_image_the_dockerfile_builds() {
    let docs = manifests();
    let dockerfile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/deploy/Dockerfile"
    ))
    .expect("examples/deploy/Dockerfile builds the image");
    assert!(
        dockerfile.matches("\nFROM ").count() >= 2,
        "a multi-stage build"
    );
    let services: Vec<&yaml_rust2::Yaml> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind(d) == "Service")
        .collect();
    let claims: Vec<&str> = docs
        .iter()
        .filter(|(_, d)| kind(d) == "PersistentVolumeClaim")
        .filter_map(|(_, d)| d["metadata"]["name"].as_str())
        .collect();
    for service in &services {
        assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"));
        assert_eq!(
            service["spec"]["publishNotReadyAddresses"].as_bool(),
            Some(true),
            "a pod must resolve its own name before it is ready"
        );
    }
    let mut forms = Vec::new();
    for (file, doc) in &docs {
        let (service_name, replicas) = match kind(doc) {
            "Job" => {
                let spec = &doc["spec"];
                assert_eq!(spec["completionMode"].as_str(), Some("Indexed"), "{file}");
                assert_eq!(spec["parallelism"], spec["completions"], "{file}");
                assert_eq!(pod(doc)["restartPolicy"].as_str(), Some("Never"), "{file}");
                forms.push("batch");
                (pod(doc)["subdomain"].as_str(), spec["completions"].as_i64())
            }
            "StatefulSet" => {
                forms.push("streaming");
                (
                    doc["spec"]["serviceName"].as_str(),
                    doc["spec"]["replicas"].as_i64(),
                )
            }
            _ => continue,
        };
        // The headless Service that names the pods selects them.
        let service_name =
            service_name.unwrap_or_else(|| panic!("{file}: no Service names the pods"));
        let service = services
            .iter()
            .find(|s| s["metadata"]["name"].as_str() == Some(service_name))
            .unwrap_or_else(|| panic!("{file}: no Service {service_name}"));
        let labels = &doc["spec"]["template"]["metadata"]["labels"];
        for (k, v) in service["spec"]["selector"].as_hash().unwrap() {
            assert_eq!(
                &labels[k.as_str().unwrap()],
                v,
                "{file}: the Service selects the pods"
            );
        }
        assert_eq!(env(pod(doc), "SERVICE"), Some(service_name), "{file}");
        assert_eq!(
            env(pod(doc), "REPLICAS").and_then(|r| r.parse::<i64>().ok()),
            replicas,
            "{file}: the host file lists every process"
        );
        // Every claim mounted is defined.
        for volume in pod(doc)["volumes"].as_vec().into_iter().flatten() {
            if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
                assert!(
                    claims.contains(&claim),
                    "{file}: claim {claim} is not defined"
                );
            }
        }
        // The image the Dockerfile builds, and a job binary it holds.
        let container = &pod(doc)["containers"][0];
        let image = container["image"].as_str().unwrap();
        assert!(
            dockerfile.contains(&format!("-t {image} ")),
            "{file}: image {image}"
        );
        let job = container["args"][0].as_str().unwrap();
        let binary = job.strip_prefix("/usr/local/bin/").unwrap();
        assert!(
            dockerfile.contains(&format!(" {binary} ")),
            "{file}: {binary} is not in the image"
        );
    }
    forms.sort();
    assert_eq!(forms, vec!["batch", "streaming"]);
}
