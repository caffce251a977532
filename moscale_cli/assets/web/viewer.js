// moscale motion page: plays the motions of the JSON block #motion-data with three.js (the global THREE,
// inlined before this script). One viewport per sample, side by side, sharing the camera angle, the
// timeline and the playback speed. Drag to orbit, wheel to zoom, space to play/pause, arrows to step.
// The page reports its state on <body>: data-ready="1" once drawn, data-frame (current frame, 0-based),
// data-played (frames advanced by playback so far) and data-error (the first script error).
(function () {
  "use strict";
  const body = document.body;
  window.addEventListener("error", (e) => {
    if (!body.dataset.error) body.dataset.error = String(e.message || e);
  });
  const data = JSON.parse(document.getElementById("motion-data").textContent);
  const fps = data.fps;
  const nj = data.parents.length;
  const samples = data.samples.map((s) => ({ label: s.label, frames: s.frames, j: Float32Array.from(s.joints) }));
  const total = Math.max(...samples.map((s) => s.frames));
  const colours = data.colours;

  document.getElementById("title").textContent = data.title || "(untitled motion)";
  document.title = data.title ? data.title + " - moscale" : "moscale motion";

  const view = document.getElementById("view");
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setScissorTest(true);
  view.appendChild(renderer.domElement);

  const cols = samples.length <= 4 ? samples.length : Math.ceil(Math.sqrt(samples.length));
  const rows = Math.ceil(samples.length / cols);
  const up = new THREE.Vector3(0, 1, 0);

  function joint(s, t, k, out) {
    const f = Math.min(t, s.frames - 1);
    const o = (f * nj + k) * 3;
    return out.set(s.j[o], s.j[o + 1], s.j[o + 2]);
  }

  // one scene per sample: grid, root trail, bones (cylinders) and joints (spheres)
  for (const s of samples) {
    let lo = [Infinity, Infinity, Infinity];
    let hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < s.j.length; i += 3) {
      for (let a = 0; a < 3; a++) {
        lo[a] = Math.min(lo[a], s.j[i + a]);
        hi[a] = Math.max(hi[a], s.j[i + a]);
      }
    }
    const v0 = new THREE.Vector3();
    let h0 = [Infinity, -Infinity];
    for (let k = 0; k < nj; k++) {
      joint(s, 0, k, v0);
      h0 = [Math.min(h0[0], v0.y), Math.max(h0[1], v0.y)];
    }
    s.height = Math.max(h0[1] - h0[0], 0.5);
    s.floor = lo[1];
    const scene = new THREE.Scene();
    scene.background = new THREE.Color(0xffffff);
    scene.add(new THREE.AmbientLight(0xffffff, 1.4));
    const sun = new THREE.DirectionalLight(0xffffff, 1.8);
    sun.position.set(2, 4, 3);
    scene.add(sun);
    const step = s.height / 3 > 0.5 ? 1.0 : 0.5;
    const size = Math.ceil((Math.max(hi[0] - lo[0], hi[2] - lo[2]) + 2 * s.height) / step) * step;
    const grid = new THREE.GridHelper(size, Math.round(size / step), 0xb0b0b0, 0xd8d8d8);
    grid.position.set((lo[0] + hi[0]) / 2, s.floor, (lo[2] + hi[2]) / 2);
    scene.add(grid);
    const trail = new Float32Array(s.frames * 3);
    for (let t = 0; t < s.frames; t++) {
      joint(s, t, 0, v0);
      trail.set([v0.x, s.floor + 0.002, v0.z], t * 3);
    }
    const tg = new THREE.BufferGeometry();
    tg.setAttribute("position", new THREE.BufferAttribute(trail, 3));
    s.trail = new THREE.Line(tg, new THREE.LineBasicMaterial({ color: colours.trail }));
    scene.add(s.trail);
    const r = 0.022 * s.height;
    const cyl = new THREE.CylinderGeometry(r, r, 1, 12);
    const ball = new THREE.SphereGeometry(1.35 * r, 12, 8);
    const mats = {};
    for (const side of ["left", "right", "centre"]) {
      mats[side] = new THREE.MeshStandardMaterial({ color: colours[side], roughness: 0.6 });
    }
    s.bones = data.bones.map(([p, k, side]) => {
      const m = new THREE.Mesh(cyl, mats[side]);
      scene.add(m);
      return { p, k, mesh: m };
    });
    s.balls = data.joint_sides.map((side) => {
      const m = new THREE.Mesh(ball, mats[side]);
      scene.add(m);
      return m;
    });
    // a camera target that follows the root, smoothed over about a second
    const k = Math.max(1, Math.round(fps));
    s.target = new Float32Array(s.frames * 3);
    for (let t = 0; t < s.frames; t++) {
      let x = 0, z = 0, n = 0;
      for (let u = Math.max(0, t - k); u <= Math.min(s.frames - 1, t + k); u++) {
        joint(s, u, 0, v0);
        x += v0.x; z += v0.z; n++;
      }
      s.target.set([x / n, s.floor + 0.45 * s.height, z / n], t * 3);
    }
    s.scene = scene;
    s.camera = new THREE.PerspectiveCamera(40, 1, 0.01, 200);
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = samples.length > 1 ? s.label : "";
    view.appendChild(label);
    s.labelEl = label;
  }

  // shared camera angle and distance (orbit / zoom)
  const orbit = { az: 0.6, el: 0.3, dist: 3.2 * Math.max(...samples.map((s) => s.height)) };
  const state = { t: 0, playing: true, speed: 1, last: null, played: 0, frame: -1 };
  const timeline = document.getElementById("timeline");
  const counter = document.getElementById("frame");
  const playBtn = document.getElementById("play");
  const speedSel = document.getElementById("speed");
  timeline.max = String(total - 1);

  const a = new THREE.Vector3(), b = new THREE.Vector3(), d = new THREE.Vector3();
  function pose(s, f) {
    for (let k = 0; k < nj; k++) s.balls[k].position.copy(joint(s, f, k, a));
    for (const bone of s.bones) {
      joint(s, f, bone.p, a);
      joint(s, f, bone.k, b);
      d.subVectors(b, a);
      const len = d.length();
      bone.mesh.visible = len > 1e-6;
      if (!bone.mesh.visible) continue;
      bone.mesh.position.addVectors(a, b).multiplyScalar(0.5);
      bone.mesh.quaternion.setFromUnitVectors(up, d.divideScalar(len));
      bone.mesh.scale.set(1, len, 1);
    }
    s.trail.geometry.setDrawRange(0, Math.min(f, s.frames - 1) + 1);
  }

  function layout() {
    const w = view.clientWidth, h = view.clientHeight;
    renderer.setSize(w, h, false);
    renderer.domElement.style.width = w + "px";
    renderer.domElement.style.height = h + "px";
    samples.forEach((s, i) => {
      const c = i % cols, r = Math.floor(i / cols);
      const vw = w / cols, vh = h / rows;
      s.rect = [c * vw, (rows - 1 - r) * vh, vw, vh];
      s.camera.aspect = vw / vh;
      s.camera.updateProjectionMatrix();
      s.labelEl.style.left = c * vw + 8 + "px";
      s.labelEl.style.top = r * vh + 6 + "px";
    });
  }

  function draw() {
    const f = Math.min(Math.floor(state.t), total - 1);
    for (const s of samples) {
      const g = Math.min(f, s.frames - 1);
      pose(s, g);
      const tx = s.target[g * 3], ty = s.target[g * 3 + 1], tz = s.target[g * 3 + 2];
      const ce = Math.cos(orbit.el);
      s.camera.position.set(
        tx + orbit.dist * ce * Math.sin(orbit.az), ty + orbit.dist * Math.sin(orbit.el), tz + orbit.dist * ce * Math.cos(orbit.az));
      s.camera.lookAt(tx, ty, tz);
      const [x, y, w, h] = s.rect;
      renderer.setViewport(x, y, w, h);
      renderer.setScissor(x, y, w, h);
      renderer.render(s.scene, s.camera);
    }
    if (f !== state.frame) {
      if (state.playing && state.frame >= 0) state.played += 1;
      state.frame = f;
      timeline.value = String(f);
      counter.textContent = `${f + 1}/${total}  ${(f / fps).toFixed(2)} s`;
      body.dataset.frame = String(f);
      body.dataset.played = String(state.played);
    }
  }

  function tick(now) {
    if (state.last !== null && state.playing) {
      const dt = Math.min((now - state.last) / 1000, 0.25);
      state.t = (state.t + dt * fps * state.speed) % total;
    }
    state.last = now;
    draw();
    requestAnimationFrame(tick);
  }

  function setPlaying(p) {
    state.playing = p;
    playBtn.textContent = p ? "Pause" : "Play";
  }
  playBtn.addEventListener("click", () => setPlaying(!state.playing));
  timeline.addEventListener("input", () => {
    setPlaying(false);
    state.t = Number(timeline.value);
  });
  speedSel.addEventListener("change", () => { state.speed = Number(speedSel.value); });
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
    if (e.code === "Space") { setPlaying(!state.playing); e.preventDefault(); }
    if (e.code === "ArrowRight" || e.code === "ArrowLeft") {
      setPlaying(false);
      state.t = (Math.floor(state.t) + (e.code === "ArrowRight" ? 1 : total - 1)) % total;
    }
  });
  let drag = null;
  renderer.domElement.addEventListener("pointerdown", (e) => {
    drag = [e.clientX, e.clientY];
    renderer.domElement.setPointerCapture(e.pointerId);
  });
  renderer.domElement.addEventListener("pointermove", (e) => {
    if (!drag) return;
    orbit.az -= (e.clientX - drag[0]) * 0.008;
    orbit.el = Math.min(1.45, Math.max(-0.1, orbit.el + (e.clientY - drag[1]) * 0.008));
    drag = [e.clientX, e.clientY];
  });
  renderer.domElement.addEventListener("pointerup", () => { drag = null; });
  renderer.domElement.addEventListener("wheel", (e) => {
    orbit.dist = Math.min(60, Math.max(0.3, orbit.dist * Math.exp(e.deltaY * 0.001)));
    e.preventDefault();
  }, { passive: false });
  window.addEventListener("resize", layout);

  layout();
  draw();
  body.dataset.ready = "1";
  requestAnimationFrame(tick);
})();
