//! DQN (Mnih et al., 2015) on CartPole, tinynn's reinforcement-learning example: a Q-network
//! learns from a replay buffer against a periodically copied target network, acting
//! ε-greedily.
//!
//! ```text
//! cargo run --release --example dqn -- [--episodes 1000] [--lr 0.0001] [--seed 31] [--double 1]
//! ```
//! The environment is written here from the classic cart-pole equations (Barto, Sutton &
//! Anderson, 1983, as in Gym's `CartPole-v0`): gravity 9.8, cart 1.0 kg, pole 0.1 kg and half
//! length 0.5 m, force ±10 N, Euler steps of 0.02 s; an episode ends when |x| > 2.4 or
//! |θ| > 12°, or after **200 steps (v0)**, and earns 1 per step. CartPole-v0 counts as solved
//! when the mean return over 100 consecutive episodes reaches 195: training stops there, and
//! the example prints that episode.
//!
//! Q-network 4-64-64-2 (ReLU), Huber loss on the chosen action only (the target of the other
//! action is the network's own output, so its error is zero), Adam, replay buffer of 50 000
//! transitions, batch 64, discount 0.99, target network copied every 500 steps, ε from 1 to
//! 0.01 over the first 10 000 steps; with `--double 1` (the default) the target is Double
//! DQN's (van Hasselt et al., 2016). A time-out is not a failure: the last state of a
//! 200-step episode is still bootstrapped. Everything is seeded by `--seed`.
//!
//! Prints the running mean return every 20 episodes and writes `out/dqn.png`, the return of
//! every episode and its running mean.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use common::plot::{HLine, Plot, Series};
use nanonn::metrics::argmax;
use nanonn::prelude::*;

/// The cart-pole system, stepped as in Gym's `CartPole-v0`.
#[derive(Clone, Debug)]
pub struct CartPole {
    /// `[x, ẋ, θ, θ̇]`: cart position (m), velocity (m/s), pole angle (rad, 0 = upright),
    /// angular velocity (rad/s).
    pub state: [f64; 4],
    /// Steps taken in this episode.
    pub steps: usize,
    /// Episode length limit (200 for v0, 500 for v1).
    pub max_steps: usize,
}

/// What one [`CartPole::step`] returns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The new state.
    pub state: [f64; 4],
    /// 1 for every step, the last one included.
    pub reward: f32,
    /// The pole fell or the cart left the track.
    pub terminated: bool,
    /// The step limit was reached without failing.
    pub truncated: bool,
}

impl CartPole {
    /// Gravity (m/s²).
    pub const GRAVITY: f64 = 9.8;
    /// Mass of the cart (kg).
    pub const MASS_CART: f64 = 1.0;
    /// Mass of the pole (kg).
    pub const MASS_POLE: f64 = 0.1;
    /// Half the pole's length (m).
    pub const HALF_LENGTH: f64 = 0.5;
    /// Magnitude of the push (N).
    pub const FORCE: f64 = 10.0;
    /// Seconds per step.
    pub const TAU: f64 = 0.02;
    /// |x| beyond which the episode ends (m).
    pub const X_LIMIT: f64 = 2.4;
    /// |θ| beyond which the episode ends: 12° in radians.
    pub const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;

    /// A cart-pole whose episodes last at most `max_steps`.
    pub fn new(max_steps: usize) -> CartPole {
        CartPole {
            state: [0.0; 4],
            steps: 0,
            max_steps,
        }
    }

    /// Starts an episode: each state variable uniform in `[-0.05, 0.05)`.
    pub fn reset(&mut self, rng: &mut Rng) -> [f64; 4] {
        self.state = [0; 4].map(|_| rng.uniform_range(-0.05, 0.05) as f64);
        self.steps = 0;
        self.state
    }

    /// Pushes the cart left (`action` 0) or right (1) for one time step.
    pub fn step(&mut self, action: usize) -> Result<Step, String> {
        if action > 1 {
            return Err(format!("action {action}: CartPole has actions 0 and 1"));
        }
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 {
            Self::FORCE
        } else {
            -Self::FORCE
        };
        let total_mass = Self::MASS_CART + Self::MASS_POLE;
        let pole_mass_length = Self::MASS_POLE * Self::HALF_LENGTH;
        let (sin, cos) = theta.sin_cos();
        let temp = (force + pole_mass_length * theta_dot * theta_dot * sin) / total_mass;
        let theta_acc = (Self::GRAVITY * sin - cos * temp)
            / (Self::HALF_LENGTH * (4.0 / 3.0 - Self::MASS_POLE * cos * cos / total_mass));
        let x_acc = temp - pole_mass_length * theta_acc * cos / total_mass;
        self.state = [
            x + Self::TAU * x_dot,
            x_dot + Self::TAU * x_acc,
            theta + Self::TAU * theta_dot,
            theta_dot + Self::TAU * theta_acc,
        ];
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let terminated = x.abs() > Self::X_LIMIT || theta.abs() > Self::THETA_LIMIT;
        Ok(Step {
            state: self.state,
            reward: 1.0,
            terminated,
            truncated: !terminated && self.steps >= self.max_steps,
        })
    }
}

/// The network's input: the state scaled to roughly `[-1, 1]`.
pub fn observe(state: &[f64; 4]) -> [f32; 4] {
    let scale = [CartPole::X_LIMIT, 3.0, CartPole::THETA_LIMIT, 3.0];
    [0, 1, 2, 3].map(|i| (state[i] / scale[i]) as f32)
}

/// Hyper-parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// Episodes at most (training stops earlier once solved).
    pub episodes: usize,
    /// Steps per episode (200: CartPole-v0).
    pub max_steps: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// Discount.
    pub gamma: f32,
    /// Transitions per training batch.
    pub batch_size: usize,
    /// Replay-buffer capacity.
    pub buffer: usize,
    /// Steps before learning starts.
    pub learn_start: usize,
    /// Steps between copies of the Q-network into the target network.
    pub target_every: usize,
    /// Steps over which ε falls linearly from 1 to `epsilon_end`.
    pub epsilon_steps: usize,
    /// The final ε.
    pub epsilon_end: f32,
    /// Hidden width.
    pub hidden: usize,
    /// Double DQN's target (the online network picks the action, the target network rates it).
    pub double: bool,
    /// Mean return over the last `window` episodes that counts as solved.
    pub solved_at: f32,
    /// Episodes the mean is taken over.
    pub window: usize,
    /// Seed of everything.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            episodes: 1000,
            max_steps: 200,
            lr: 1e-4,
            gamma: 0.99,
            batch_size: 64,
            buffer: 50_000,
            learn_start: 1000,
            target_every: 500,
            epsilon_steps: 10_000,
            epsilon_end: 0.01,
            hidden: 64,
            double: true,
            solved_at: 195.0,
            window: 100,
            seed: 31,
        }
    }
}

/// One stored transition.
#[derive(Clone, Copy, Debug)]
struct Transition {
    state: [f32; 4],
    action: usize,
    reward: f32,
    next: [f32; 4],
    /// The episode failed here, so the next state has no value.
    terminal: bool,
}

/// What a training run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The return of every episode played.
    pub returns: Vec<f32>,
    /// The episode (0-based) at which the mean of the last `window` returns first reached
    /// `solved_at`, if it did.
    pub solved: Option<usize>,
    /// Environment steps taken.
    pub steps: usize,
}

/// Mean of the last `window` values (or all of them, if fewer).
pub fn running_mean(values: &[f32], window: usize) -> f32 {
    let tail = &values[values.len().saturating_sub(window)..];
    tail.iter().sum::<f32>() / tail.len().max(1) as f32
}

/// Trains a DQN agent, calling `report(episode, return, mean of the last window)` after each
/// episode.
pub fn train(cfg: &Config, mut report: impl FnMut(usize, f32, f32)) -> Result<Outcome, String> {
    let e = |e: Error| e.to_string();
    let (h, b) = (cfg.hidden, cfg.batch_size.max(1));
    let layers = || -> [AnyLayer<'static>; 5] {
        [
            Dense::new(4, h).into(),
            Activation::ReLU.into(),
            Dense::new(h, h).into(),
            Activation::ReLU.into(),
            Dense::new(h, 2).into(),
        ]
    };
    let input = Shape::vector(4);
    let mut q = Model::owned(
        layers(),
        input,
        b,
        Huber::new(1.0),
        Adam::new(cfg.lr),
        cfg.seed,
    )
    .map_err(e)?;
    let mut target = Net::owned(layers(), input, b, Purpose::Inference, 0).map_err(e)?;
    target.params_mut().copy_from_slice(q.net().params());

    let mut rng = Rng::new(cfg.seed ^ 0xd9);
    let mut env = CartPole::new(cfg.max_steps);
    let mut memory: Vec<Transition> = Vec::with_capacity(cfg.buffer.min(1 << 20));
    let (mut states, mut nexts) = (vec![0.0; b * 4], vec![0.0; b * 4]);
    let mut targets = vec![0.0; b * 2];
    let (mut picked, mut choice) = (vec![0usize; b], vec![0usize; b]);
    let mut outcome = Outcome {
        returns: Vec::new(),
        solved: None,
        steps: 0,
    };
    for episode in 0..cfg.episodes {
        let mut obs = observe(&env.reset(&mut rng));
        let mut ret = 0.0;
        loop {
            let progress = (outcome.steps as f32 / cfg.epsilon_steps.max(1) as f32).min(1.0);
            let epsilon = 1.0 + (cfg.epsilon_end - 1.0) * progress;
            let action = if rng.uniform() < epsilon {
                rng.below(2)
            } else {
                let x = Tensor::matrix(&obs, 1, 4).map_err(e)?;
                argmax(q.predict(x).map_err(e)?.data())
            };
            let step = env.step(action)?;
            let next = observe(&step.state);
            ret += step.reward;
            outcome.steps += 1;
            let t = Transition {
                state: obs,
                action,
                reward: step.reward,
                next,
                terminal: step.terminated,
            };
            if memory.len() < cfg.buffer {
                memory.push(t);
            } else {
                memory[outcome.steps % cfg.buffer] = t;
            }
            obs = next;

            if outcome.steps >= cfg.learn_start && memory.len() >= b {
                for k in 0..b {
                    let i = rng.below(memory.len());
                    let t = &memory[i];
                    states[k * 4..k * 4 + 4].copy_from_slice(&t.state);
                    nexts[k * 4..k * 4 + 4].copy_from_slice(&t.next);
                    picked[k] = i;
                }
                let next_x = Tensor::matrix(&nexts, b, 4).map_err(e)?;
                // Double DQN: the online network chooses the next action...
                if cfg.double {
                    let online = q.predict(next_x).map_err(e)?;
                    for (c, row) in choice.iter_mut().zip(online.data().chunks(2)) {
                        *c = argmax(row);
                    }
                }
                // ...and the target network says what it is worth.
                let next_q = target.forward(next_x).map_err(e)?;
                for (k, row) in next_q.data().chunks(2).enumerate() {
                    let t = &memory[picked[k]];
                    let best = if cfg.double {
                        row[choice[k]]
                    } else {
                        row[0].max(row[1])
                    };
                    let bootstrap = if t.terminal { 0.0 } else { cfg.gamma * best };
                    targets[k * 2 + t.action] = t.reward + bootstrap;
                }
                let x = Tensor::matrix(&states, b, 4).map_err(e)?;
                let current = q.forward(x).map_err(e)?;
                // The action not taken keeps its own prediction as target: zero error.
                for (k, row) in current.data().chunks(2).enumerate() {
                    let other = 1 - memory[picked[k]].action;
                    targets[k * 2 + other] = row[other];
                }
                let y = Tensor::matrix(&targets, b, 2).map_err(e)?;
                q.backward(Targets::Values(y)).map_err(e)?;
                q.apply_grad().map_err(e)?;
            }
            if outcome.steps.is_multiple_of(cfg.target_every.max(1)) {
                target.params_mut().copy_from_slice(q.net().params());
            }
            if step.terminated || step.truncated {
                break;
            }
        }
        outcome.returns.push(ret);
        let mean = running_mean(&outcome.returns, cfg.window);
        report(episode, ret, mean);
        if outcome.returns.len() >= cfg.window && mean >= cfg.solved_at {
            outcome.solved = Some(episode);
            break;
        }
    }
    Ok(outcome)
}

/// The plot of `returns` and their running mean, with the `solved_at` line.
pub fn plot(returns: &[f32], window: usize, solved_at: f32) -> common::image::Picture {
    let means: Vec<f32> = (1..=returns.len())
        .map(|n| running_mean(&returns[..n], window))
        .collect();
    let mean_label = format!("mean of last {window}");
    let solved_label = format!("solved ({solved_at})");
    let plot = Plot {
        title: "DQN on CartPole-v0",
        x_label: "episode",
        y_label: "return",
        first_x: 0.0,
        series: vec![
            Series {
                label: "return",
                values: returns,
                colour: [150, 180, 230],
                thickness: 1,
            },
            Series {
                label: &mean_label,
                values: &means,
                colour: [20, 60, 160],
                thickness: 3,
            },
        ],
        hlines: vec![HLine {
            y: solved_at,
            label: &solved_label,
            colour: [200, 60, 40],
        }],
    };
    common::plot::render(&plot, 800, 450)
}

const USAGE: &str =
    "usage: dqn [--episodes N] [--lr F] [--seed N] [--double 0|1] [--target-every N] [--hidden N]";

fn run() -> Result<(), String> {
    let mut cfg = Config::default();
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--episodes" => cfg.episodes = common::parse(v)?,
            "--lr" => cfg.lr = common::parse(v)?,
            "--seed" => cfg.seed = common::parse(v)?,
            "--double" => cfg.double = common::parse::<u8>(v)? != 0,
            "--target-every" => cfg.target_every = common::parse(v)?,
            "--hidden" => cfg.hidden = common::parse(v)?,
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    if cfg.hidden == 0 {
        return Err(format!("--hidden must be at least 1\n{USAGE}"));
    }
    eprintln!(
        "nanonn DQN on CartPole-v0 (max {} steps): Q-network 4-{h}-{h}-2, {} target",
        cfg.max_steps,
        if cfg.double { "Double DQN" } else { "DQN" },
        h = cfg.hidden
    );
    let start = Instant::now();
    let outcome = train(&cfg, |episode, ret, mean| {
        if episode % 20 == 19 {
            println!("Episode {episode} return={ret} mean_return_100={mean:.1}");
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let path = common::out_dir().join("dqn.png");
    plot(&outcome.returns, cfg.window, cfg.solved_at).save(&path)?;
    eprintln!(
        "wrote {} ({} steps, {seconds:.1}s)",
        path.display(),
        outcome.steps
    );
    let last = outcome.returns.len().saturating_sub(1);
    let mean = running_mean(&outcome.returns, cfg.window);
    match outcome.solved {
        Some(ep) => println!(
            "solved at episode {ep}: mean return {mean:.1} over episodes {}..={ep}",
            ep + 1 - cfg.window
        ),
        None => println!(
            "not solved after {} episodes: mean return {mean:.1} over the last {}",
            last + 1,
            cfg.window
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
